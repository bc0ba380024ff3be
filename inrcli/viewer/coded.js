// Coded weights (format 4; docs/FORMAT.md, "Coded weights"): each weight tensor's quantised
// integers, rANS-coded per chunk against a stored histogram, decoded here into Float32Arrays.
// Written from the document (no code from inrcli or constriction); tests hold it to `inr decode`.

const PRECISION = 24;
const HIGH_BITS = 4;
const TWO32 = 1n << 32n;
const QUANTILE_MASK = (1n << BigInt(PRECISION)) - 1n;

/** Tensors of one row per kept partition (slot); `coded.local_bytes` has one entry per slot too. */
export function isLocal(name) {
  return name.startsWith("local_") || name.startsWith("out_");
}

/** Every weight tensor's shape, by name, from the model config (FORMAT.md, "Tensors"). */
export function weightShapes(arch, model) {
  const { in_dim: d, out_dim: c, hidden_layers: layers } = model;
  const shapes = {};
  if (arch === "siren") {
    const w = model.width;
    for (let k = 0; k <= layers; k++) {
      shapes[`body.${k}.linear.weight`] = [w, k ? w : d];
      shapes[`body.${k}.linear.bias`] = [w];
    }
    return Object.assign(shapes, { "head.weight": [c, w], "head.bias": [c] });
  }
  const { local_width: w, global_width: g } = model;
  const slots = model.partitioning.kept.reduce((n, [lo, hi]) => n * (hi - lo), 1);
  for (let k = 0; k <= layers; k++) {
    shapes[`local_weight.${k}`] = [slots, k ? w : d, w];
    shapes[`local_bias.${k}`] = [slots, w];
    shapes[`global_layers.${k}.linear.weight`] = [g, k ? g : d];
    shapes[`global_layers.${k}.linear.bias`] = [g];
  }
  return Object.assign(shapes, { out_weight: [slots, w, c], out_bias: [slots, c],
    "merge.linear.weight": [w, w + g], "merge.linear.bias": [w] });
}

/** A histogram's fixed-point CDF (n + 1 entries out of 2^24), as FORMAT.md gives it. */
function cdfOf(counts) {
  const n = counts.length;
  let total = 0;
  for (const count of counts) total += count;
  if (!(total > 0) || n < 2) throw new Error("a coded tensor's histogram is empty");
  const scale = (2 ** PRECISION - n) / total;
  const cdf = new Int32Array(n + 1);
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    cdf[i] = Math.floor(cumulative * scale) + i;
    cumulative += counts[i];
  }
  cdf[n] = 2 ** PRECISION;
  return cdf;
}

/** One chunk's rANS stream: 32-bit little-endian words read from the end. */
class AnsReader {
  constructor(bytes) {
    if (bytes.length % 4) throw new Error("a coded chunk is not whole 32-bit words");
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.left = bytes.length / 4;
    this.state = 0n;
    if (this.left === 0) return;
    this.state = this.pop();
    if (this.state === 0n) throw new Error("a coded chunk ends in a zero word");
    while (this.left > 0 && this.state < TWO32) this.state = (this.state << 32n) | this.pop();
  }

  pop() {
    this.left -= 1;
    return BigInt(this.view.getUint32(4 * this.left, true));
  }

  /** `count` symbols against `cdf`, into `out` (an Int32Array of at least `count`). */
  decode(cdf, count, out) {
    const n = cdf.length - 1;
    let state = this.state;
    for (let j = 0; j < count; j++) {
      const quantile = Number(state & QUANTILE_MASK);
      let lo = 0, hi = n - 1;  // the i with cdf[i] ≤ quantile < cdf[i + 1]
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (cdf[mid] <= quantile) lo = mid; else hi = mid - 1;
      }
      state = (state >> 24n) * BigInt(cdf[lo + 1] - cdf[lo]) + BigInt(quantile - cdf[lo]);
      if (state < TWO32 && this.left > 0) state = (state << 32n) | this.pop();
      out[j] = lo;
    }
    this.state = state;
  }

  finish() {
    if (this.left !== 0 || this.state !== 0n) throw new Error("a coded chunk holds more bytes than its weights");
  }
}

/**
 * Decode a coded file's weights.
 * @param {object} meta parsed metadata (arch, model, coding)
 * @param {object} coded name → raw bytes (Uint8Array) of the `coded.*` tensors
 * @returns {object} name → {dtype: "F32", shape, values: Float32Array}
 */
export function decodeWeights(meta, coded) {
  const rows = meta.coding.tensors;
  const shapes = weightShapes(meta.arch, meta.model);
  const prior = coded["coded.prior"];
  const view = new DataView(prior.buffer, prior.byteOffset, prior.length);
  const out = {};
  let at = 0;
  for (const [name, bits, offsetText, stepText] of rows) {  // each tensor's grid and histogram, in coding order
    const offset = Math.fround(offsetText), step = Math.fround(stepText);  // float32 numbers in shortest form
    if (!(name in shapes)) throw new Error(`coded tensor ${name} is not the model's`);
    const levels = 1 << Math.min(bits, HIGH_BITS);
    if (2 * (at + levels) > prior.length) throw new Error("coded histograms do not fit the model");
    const counts = Array.from({ length: levels }, (_, i) => view.getUint16(2 * (at + i), true));
    at += levels;
    const shape = shapes[name];
    out[name] = { dtype: "F32", shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)), bits, offset, step,
      cdf: cdfOf(counts), lowCdf: bits > HIGH_BITS ? cdfOf(new Array(1 << (bits - HIGH_BITS)).fill(1)) : null };
  }
  if (2 * at !== prior.length) throw new Error("coded histograms do not fit the model");
  const chunk = (bytes, names, slot) => {
    const reader = new AnsReader(bytes);
    for (const name of names) {
      const { values, shape, bits, offset, step, cdf, lowCdf } = out[name];
      const size = isLocal(name) ? values.length / shape[0] : values.length;
      const high = new Int32Array(size), low = new Int32Array(size);
      reader.decode(cdf, size, high);
      if (lowCdf) reader.decode(lowCdf, size, low);
      const base = isLocal(name) ? slot * size : 0;
      for (let j = 0; j < size; j++) {
        const q = lowCdf ? high[j] * 2 ** (bits - HIGH_BITS) + low[j] : high[j];
        values[base + j] = Math.fround(offset + q * step);  // offset + q·step in float64, rounded once
      }
    }
    reader.finish();
  };
  const names = rows.map(([name]) => name);
  chunk(coded["coded.shared"], names.filter((n) => !isLocal(n)), 0);
  const local = names.filter(isLocal);
  if (local.length) {
    const lengths = coded["coded.local_bytes"], data = coded["coded.local"];
    const lengthView = new DataView(lengths.buffer, lengths.byteOffset, lengths.length);
    const slots = out[local[0]].shape[0];
    if (lengths.length !== 4 * slots) throw new Error("coded partition lengths do not fit the model");
    at = 0;
    for (let s = 0; s < slots; s++) {
      const length = lengthView.getInt32(4 * s, true);
      if (length < 0 || at + length > data.length) throw new Error("coded partition lengths do not fit the data");
      chunk(data.subarray(at, at + length), local, s);
      at += length;
    }
    if (at !== data.length) throw new Error("coded partition lengths do not add up to the data");
  }
  for (const tensor of Object.values(out)) for (const key of ["bits", "offset", "step", "cdf", "lowCdf"]) delete tensor[key];
  return out;
}

/** The bytes of slot chunks `slots` of `coded.local`, in that order (a crop keeps them as they are). */
export function keptChunks(data, lengths, slots) {
  const view = new DataView(lengths.buffer, lengths.byteOffset, lengths.length);
  const starts = [0];
  for (let s = 0; s < lengths.length / 4; s++) starts.push(starts[s] + view.getInt32(4 * s, true));
  const size = slots.reduce((n, s) => n + starts[s + 1] - starts[s], 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const s of slots) {
    out.set(data.subarray(starts[s], starts[s + 1]), at);
    at += starts[s + 1] - starts[s];
  }
  return out;
}
