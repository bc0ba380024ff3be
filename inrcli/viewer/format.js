// The inr file format in the browser, written from docs/FORMAT.md: the safetensors container,
// the metadata (version 1, 2.x … 5.x; 3.0 changed graph files only, which the page describes
// but does not decode; 4.0 added coded weights, decoded by coded.js; 5.0 lets a coded file keep
// some tensors as plain F32 entries, read here like any float tensor), weights as Float32Array, and
// a crop made in the page. No code here comes from inrcli; tests hold it to `inr decode` and `inr crop`.

import { decodeWeights, isLocal, keptChunks } from "./coded.js";

const MAX_HEADER_BYTES = 16 << 20;
const ELEMENT_BYTES = { F32: 4, F16: 2, I32: 4, I64: 8, U16: 2, U8: 1 };

/** Half-precision bits → number (IEEE 754 binary16). */
function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Per safetensors dtype: the array it becomes and how one little-endian element is read. */
const READERS = {
  F32: [Float32Array, (view, i) => view.getFloat32(4 * i, true)],
  F16: [Float32Array, (view, i) => halfToFloat(view.getUint16(2 * i, true))],
  I32: [Int32Array, (view, i) => view.getInt32(4 * i, true)],
  I64: [Int32Array, (view, i) => Number(view.getBigInt64(8 * i, true))],
};

/** A tensor's elements as a typed array (weights always Float32Array, indices Int32Array). */
function tensorValues(bytes, dtype, count) {
  if (!(dtype in READERS)) throw new Error(`unsupported tensor dtype ${dtype}`);
  const [Type, read] = READERS[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Type(count);
  for (let i = 0; i < count; i++) out[i] = read(view, i);
  return out;
}

/** The metadata's fields without the `inr.` prefix (version 1's bare keys mapped to them). */
function normaliseMetadata(stored) {
  let fields;
  if ("inr.version" in stored) {
    const major = stored["inr.version"].split(".")[0];
    if (!["2", "3", "4", "5"].includes(major)) throw new Error(`file format ${stored["inr.version"]} is newer than this viewer reads`);
    fields = {};
    for (const [key, value] of Object.entries(stored)) if (key.startsWith("inr.")) fields[key.slice(4)] = value;
  } else if (stored.format === "inr" && stored.version === "1") {
    fields = { ...stored, kind: stored.modality };
  } else {
    throw new Error("not an inr file (no inr.version metadata)");
  }
  for (const key of ["model", "signal", "training"]) fields[key] = JSON.parse(fields[key]);
  if (fields.coding !== undefined && Number(fields.version.split(".")[0]) >= 4) fields.coding = JSON.parse(fields.coding);
  else delete fields.coding;
  return fields;
}

/**
 * Parse an inr file.
 * @param {ArrayBuffer} buffer the whole file
 * @returns {{meta: object, stored: object, header: object, tensors: object, bytes: Uint8Array}}
 *   meta: kind, arch, dtype, model, signal, training, version; stored: the raw metadata strings;
 *   tensors: name → {dtype, shape, values, offsets}, `aux.*` skipped as the policy says.
 */
export function parseInr(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8) throw new Error("file is too short to be a safetensors file");
  const length = Number(new DataView(buffer).getBigUint64(0, true));
  if (length < 2 || length > MAX_HEADER_BYTES || 8 + length > bytes.length) {
    throw new Error(`safetensors header length ${length} does not fit the file`);
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  const stored = header.__metadata__ || {};
  const meta = normaliseMetadata(stored);
  const dataStart = 8 + length;
  const tensors = {}, coded = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__" || name.startsWith("aux.")) continue;
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * ELEMENT_BYTES[entry.dtype] || dataStart + end > bytes.length) {
      throw new Error(`tensor ${name} does not fit the file`);
    }
    const raw = bytes.subarray(dataStart + begin, dataStart + end);
    if (meta.coding && name.startsWith("coded.")) coded[name] = raw;
    else tensors[name] = { dtype: entry.dtype, shape: entry.shape, values: tensorValues(raw, entry.dtype, count), raw };
  }
  if (meta.coding) Object.assign(tensors, decodeWeights(meta, coded));
  return { meta, stored, header, tensors, bytes };
}

/** Network parameters in the file (what `inr info` calls params): every weight tensor's size. */
export function parameterCount(file) {
  let total = 0;
  for (const [name, t] of Object.entries(file.tensors)) if (!name.startsWith("graph.")) total += t.values.length;
  return total;
}

/** Parameters that belong to one partition (a slot of every local tensor). */
export function parametersPerPartition(file) {
  let total = 0;
  for (const [name, t] of Object.entries(file.tensors)) {
    if (isLocal(name)) total += t.values.length / t.shape[0];
  }
  return total;
}

/** Python's json.dumps of a list of [lo, hi] pairs: "[[0, 8], [0, 4]]". */
function pairsText(pairs) {
  return "[" + pairs.map(([a, b]) => `[${a}, ${b}]`).join(", ") + "]";
}

/**
 * A cropped file made in the page, byte for byte what `inr crop FILE --region R` writes: the
 * kept partitions' rows of every local tensor, the kept block and the window rewritten, all
 * other bytes as they were.
 * @param {object} file parsed with parseInr (an lg-siren file)
 * @param {number[][]} region per axis [lo, hi), absolute partition indices inside the kept block
 * @returns {Uint8Array} the new file
 */
export function cropInr(file, region) {
  const { model, signal } = file.meta;
  const part = model.partitioning;
  const kept = part.kept;
  region.forEach(([lo, hi], a) => {
    if (!(kept[a][0] <= lo && lo < hi && hi <= kept[a][1])) throw new Error(`region axis ${a} is outside the kept partitions`);
  });
  const slots = slotsOf(region, kept);
  const window = region.map(([lo, hi], a) => [part.edges[a][lo], part.edges[a][hi]]);
  const prefix = "inr.version" in file.stored ? "inr." : "";
  const metadata = { ...file.stored };
  metadata[prefix + "model"] = metadata[prefix + "model"].replace(/"kept": \[\[[^"]*?\]\]/, `"kept": ${pairsText(region)}`);
  metadata[prefix + "signal"] = metadata[prefix + "signal"].replace(/"window": \[\[[^"]*?\]\]/, `"window": ${pairsText(window)}`);
  const pieces = [];
  const entries = {};
  let offset = 0;
  for (const name of Object.keys(file.header).filter((n) => n !== "__metadata__").sort(byStoredOffset(file.header))) {
    const entry = file.header[name];
    const source = file.tensors[name] && file.tensors[name].raw ? file.tensors[name].raw : rawOf(file, entry);
    let bytes = source;
    let shape = entry.shape;
    if (name === "coded.local") {  // the kept partitions' chunks, as they were
      bytes = keptChunks(source, rawOf(file, file.header["coded.local_bytes"]), slots);
      shape = [bytes.length];
    } else if (isLocal(name) || name === "coded.local_bytes") {
      const rowBytes = source.length / entry.shape[0];
      bytes = new Uint8Array(slots.length * rowBytes);
      slots.forEach((slot, i) => bytes.set(source.subarray(slot * rowBytes, (slot + 1) * rowBytes), i * rowBytes));
      shape = [slots.length, ...entry.shape.slice(1)];
    }
    entries[name] = { dtype: entry.dtype, shape, data_offsets: [offset, offset + bytes.length] };
    pieces.push(bytes);
    offset += bytes.length;
  }
  entries.__metadata__ = metadata;
  let text = canonicalJson(entries);
  text += " ".repeat((8 - (text.length % 8)) % 8);
  const head = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

function rawOf(file, entry) {
  const start = file.bytes.length - dataLength(file.header);
  return file.bytes.subarray(start + entry.data_offsets[0], start + entry.data_offsets[1]);
}

function dataLength(header) {
  let end = 0;
  for (const [name, entry] of Object.entries(header)) if (name !== "__metadata__") end = Math.max(end, entry.data_offsets[1]);
  return end;
}

function byStoredOffset(header) {
  return (a, b) => header[a].data_offsets[0] - header[b].data_offsets[0];
}

/** Slots (rows of local tensors) of the partitions in `region`, in the cropped file's order. */
export function slotsOf(region, kept) {
  let slots = [0];
  region.forEach(([lo, hi], a) => {
    const size = kept[a][1] - kept[a][0];
    const next = [];
    for (const s of slots) for (let p = lo; p < hi; p++) next.push(s * size + (p - kept[a][0]));
    slots = next;
  });
  return slots;
}

/** JSON with sorted keys and no spaces (Python's json.dumps(sort_keys=True, separators=(",", ":"))). */
function canonicalJson(value) {
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (value && typeof value === "object") {
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
  }
  return JSON.stringify(value);
}
