// The page: lists the files the server names, loads one, and hands it to the view of its kind.
// window.inrViewer is the page's small programmatic face (used by the tests and the frame-rate
// benchmark): ready, setView, readPixels, decodeAudio, crop, benchmark.

import { parseInr, parameterCount } from "./format.js";
import { webgl2 } from "./gpu.js";
import { PlaneView } from "./plane.js";
import { AudioView } from "./audio.js";
import { MeshView } from "./mesh.js";
import { el, formatInt } from "./ui.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.arrayBuffer();
}

/** A canvas for the decoded plane: WebGL2 unless ?cpu=1 or the browser has none. */
function decodeCanvas() {
  const canvas = el("canvas");
  const gl = params.get("cpu") === "1" ? null : webgl2(canvas);
  return { canvas: gl ? canvas : el("canvas"), gl };
}

function describeFile(entry, file) {
  const { meta } = file;
  const rows = [
    ["kind", meta.kind], ["architecture", meta.arch], ["stored as", meta.dtype],
    ["samples", meta.signal.window.map(([lo, hi]) => hi - lo).join(" × ") + ` × ${meta.signal.channels}`],
    ["parameters", formatInt(parameterCount(file))], ["file", `${formatInt(file.bytes.length)} bytes`],
  ];
  if (meta.arch === "lg-siren") {
    const { edges, kept } = meta.model.partitioning;
    rows.push(["partitions", edges.map((e) => e.length - 1).join("×") + ", kept " + kept.map(([a, b]) => `${a}:${b}`).join(",")]);
  }
  if (meta.training && meta.training.psnr != null) rows.push(["training PSNR", `${meta.training.psnr} dB`]);
  return [el("h3", {}, [entry.name]), ...rows.map(([k, v]) => el("div", {}, [`${k}: ${v}`]))];
}

async function show(entry) {
  for (const id of ["stage", "controls", "hover", "crop", "info"]) $(id).replaceChildren();
  $("status").textContent = `loading ${entry.name}…`;
  const file = parseInr(await fetchBytes(entry.url));
  $("info").append(...describeFile(entry, file));
  const { canvas, gl } = decodeCanvas();
  $("backend").textContent = gl ? "decoding on the GPU (WebGL2)" : "decoding on the CPU (JavaScript)";
  const ctx = { file, entry, stage: $("stage"), controls: $("controls"), hover: $("hover"), cropBox: $("crop"),
    status: $("status"), gl, glCanvas: canvas };
  let view;
  if (file.meta.kind === "audio") view = new AudioView(ctx);
  else if (file.meta.kind === "shape" && entry.mesh) view = new MeshView(ctx);
  else if (["image", "video", "volume", "shape"].includes(file.meta.kind)) view = new PlaneView(ctx);
  else {
    $("stage").append(el("p", {}, [`A ${file.meta.kind} file: the page shows its details; decode it with inr decode.`]));
  }
  if (view instanceof PlaneView && !gl) view.cpuContext = canvas.getContext("2d");
  if (view && view.ready) await view.ready;
  if (view && view.render) view.render();  // plane views finish drawing in the background
  $("status").textContent = `${entry.name}: ready`;
  return { file, view, backend: gl ? "webgl2" : "cpu" };
}

function bytesToBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function main() {
  const entries = await (await fetch("/api/files")).json();
  let current = null;
  const api = {
    entries,
    /** Load file `index` (0-based): resolves to the backend in use. */
    async open(index) {
      current = await show(entries[index]);
      return current.backend;
    },
    /** Plane views: show rows [from[0], to[0]) × columns [from[1], to[1]) on a w×h canvas. */
    setView(from, to, size) { current.view.setView(from, to, size); return true; },
    /** The decoded canvas's RGBA bytes (top row first), base64. */
    readPixels() {
      const canvas = current.view.glCanvas, { width, height } = canvas;
      const copy = el("canvas", { width, height });
      const g = copy.getContext("2d");
      g.drawImage(canvas, 0, 0);
      return bytesToBase64(new Uint8Array(g.getImageData(0, 0, width, height).data.buffer));
    },
    /** Audio: natural sample values of n samples over [from, to), as a plain array. */
    decodeAudio(from, to, n) { return Array.from(current.view.decode(from, to, n)); },
    /** The file cropped to `region` by the page, base64. */
    crop(region) { return bytesToBase64(current.view.cropBytes(region)); },
    /** Frames per second of full redraws at size × size (each frame finished before the next). */
    benchmark(size, frames) {
      const { view } = current;
      view.setView([0, 0], [view.window[view.rowAxis][1], view.window[view.colAxis][1]], [size, size]);
      const start = performance.now();
      for (let i = 0; i < frames; i++) { view.zoom *= 1.001; view.renderAll(); }
      return (frames * 1000) / (performance.now() - start);
    },
  };
  window.inrViewer = api;
  $("files").append(...entries.map((entry, i) => el("button", { onclick: () => api.open(i) }, [entry.name])));
  if (entries.length) await api.open(Math.min(+(params.get("file") || 0), entries.length - 1));
  api.ready = true;
}

main().catch((error) => {
  $("status").textContent = `error: ${error.message}`;
  window.inrViewer = { error: String(error.message) };
});
