// The network on the GPU: a WebGL2 fragment shader evaluates the whole decode (routing, blending
// and every partition's Local-Global SIREN, or a plain SIREN) once per pixel, so a view at any
// zoom is the network's own output, never an upscale.  The shader is generated per file:
//   * the shared layers (global and merge; a SIREN's body) are written into the code as constants,
//     unrolled, when they are small (they are, by design, in a Local-Global SIREN): no memory reads;
//   * each partition's local weights live in an RGBA float texture, four outputs per texel, in one
//     block per slot;
//   * larger shared layers and the partition edges are read from an R32F texture.
// A software renderer (SwiftShader) pays for every texture read, so this layout is what makes it
// usable there.  docs/FORMAT.md is the specification; decoder.js is the CPU twin.

import { frameOf } from "./decoder.js";

const TEXTURE_WIDTH = 2048;
const BAKE_LIMIT = 12000;  // shared weights written into the shader as constants, at most

/** Every shared weight tensor, then every axis's edges, in one Float32Array; name → offset. */
function packShared(file) {
  const offsets = {};
  const parts = [];
  let size = 0;
  for (const [name, tensor] of Object.entries(file.tensors)) {
    if (name.startsWith("graph.") || isLocal(name)) continue;
    offsets[name] = size;
    parts.push(tensor.values);
    size += tensor.values.length;
  }
  const edges = (file.meta.model.partitioning || { edges: [] }).edges;
  edges.forEach((axisEdges, a) => {
    offsets[`edges.${a}`] = size;
    parts.push(Float32Array.from(axisEdges));
    size += axisEdges.length;
  });
  return { ...toTexture(parts, size, 1), offsets };
}

const isLocal = (name) => name.startsWith("local_") || name.startsWith("out_");

function toTexture(parts, size, perTexel) {
  const rows = Math.max(1, Math.ceil(size / perTexel / TEXTURE_WIDTH));
  const data = new Float32Array(rows * TEXTURE_WIDTH * perTexel);
  let at = 0;
  for (const part of parts) { data.set(part, at); at += part.length; }
  return { data, rows };
}

/**
 * Local weights, one block of texels per slot: for each depth k, nIn rows of ⌈w/4⌉ texels (the
 * weights of input i to outputs 4j…4j+3) then the bias's ⌈w/4⌉ texels; then w rows of one texel
 * (the output layer, C ≤ 4 channels) and its bias.  Padding lanes are zero.
 * @returns {{data: Float32Array, rows: number, stride: number, layer: number[], out: number}} offsets in texels
 */
function packLocal(file) {
  const c = file.meta.model, w = c.local_width, w4 = Math.ceil(w / 4), d = c.in_dim, C = c.out_dim;
  const slots = file.tensors.out_bias.shape[0];
  const layer = [];
  let stride = 0;
  for (let k = 0; k <= c.hidden_layers; k++) {
    layer.push(stride);
    stride += ((k === 0 ? d : w) + 1) * w4;
  }
  const out = stride;
  stride += w + 1;
  const data = new Float32Array(slots * stride * 4);
  for (let s = 0; s < slots; s++) {
    const block = s * stride * 4;
    for (let k = 0; k <= c.hidden_layers; k++) {
      const nIn = k === 0 ? d : w, weights = file.tensors[`local_weight.${k}`].values, bias = file.tensors[`local_bias.${k}`].values;
      for (let i = 0; i < nIn; i++) {
        for (let o = 0; o < w; o++) data[block + (layer[k] + i * w4) * 4 + o] = weights[(s * nIn + i) * w + o];
      }
      for (let o = 0; o < w; o++) data[block + (layer[k] + nIn * w4) * 4 + o] = bias[s * w + o];
    }
    const weights = file.tensors.out_weight.values, bias = file.tensors.out_bias.values;
    for (let i = 0; i < w; i++) for (let o = 0; o < C; o++) data[block + (out + i) * 4 + o] = weights[(s * w + i) * C + o];
    for (let o = 0; o < C; o++) data[block + (out + w) * 4 + o] = bias[s * C + o];
  }
  return { ...toTexture([data], data.length, 4), stride, layer, out };
}

const num = (x) => (Number.isInteger(x) ? `${x}.0` : `${x}`);

/** A float32 value as a GLSL literal that parses back to the same float32. */
function literal(v) {
  if (v === 0) return "0.0";
  const text = Math.abs(v).toPrecision(9);
  return text.includes(".") || text.includes("e") ? text : `${text}.0`;
}

/**
 * One shared sine layer as a loop reading the shared texture (the shared weights are too many
 * to write into the code): out[o] = sine(w0 (Σ_i in[i] W[o, i] + b[o])), W stored (out, in).
 */
function sharedLayer(input, output, nIn, nOut, name, shared, w0, sine = true) {
  const wBase = shared.offsets[`${name}.weight`], bBase = shared.offsets[`${name}.bias`];
  return `
    for (int o = 0; o < ${nOut}; o++) {
      float acc = wt(${bBase} + o);
      int base = ${wBase} + o * ${nIn};
      for (int i = 0; i < ${nIn}; i++) acc += ${input}[i] * wt(base + i);
      ${output}[o] = ${sine ? `sine(${num(w0)} * acc)` : "acc"};
    }`;
}

function sharedCount(file) {
  let total = 0;
  for (const [name, t] of Object.entries(file.tensors)) if (!isLocal(name) && !name.startsWith("graph.")) total += t.values.length;
  return total;
}

function sirenCode(file, shared) {
  const c = file.meta.model;
  let code = `vec4 network(float x[4], int slot) {\n    float h[${c.width}]; float n[${c.width}]; float y[4];`;
  code += sharedLayer("x", "h", c.in_dim, c.width, "body.0.linear", shared, c.first_w0);
  for (let k = 1; k <= c.hidden_layers; k++) {
    code += sharedLayer("h", "n", c.width, c.width, `body.${k}.linear`, shared, c.w0);
    code += `\n    h = n;`;
  }
  code += `\n    for (int o = 0; o < 4; o++) y[o] = 0.0;`;
  code += sharedLayer("h", "y", c.width, c.out_dim, "head", shared, 0, false);
  return code + `\n    return vec4(y[0], y[1], y[2], y[3]);\n  }`;
}

/** A local layer: four outputs per texel read, for the slot's block. */
function localLayer(input, nIn, w4, offset, w0) {
  return `
    {
      int base = slot * STRIDE + ${offset};
      for (int o4 = 0; o4 < ${w4}; o4++) {
        vec4 acc = lt(base + ${nIn * w4} + o4);
        for (int i = 0; i < ${nIn}; i++) acc += ${input}[i] * lt(base + i * ${w4} + o4);
        acc *= ${num(w0)};
        loc[4 * o4] = sine(acc.x); loc[4 * o4 + 1] = sine(acc.y); loc[4 * o4 + 2] = sine(acc.z); loc[4 * o4 + 3] = sine(acc.w);
      }
    }`;
}

function localGlobalCode(file, shared, local) {
  const c = file.meta.model;
  const w = c.local_width, g = c.global_width, d = c.in_dim, w4 = Math.ceil(w / 4);
  let code = `const int STRIDE = ${local.stride};
  void merge(in float j[${w + g}], out float h[${4 * w4}]) {${sharedLayer("j", "h", w + g, w, "merge.linear", shared, c.w0)}
  }
  vec4 network(float x[4], int slot) {
    float h[${4 * w4}]; float loc[${4 * w4}]; float gcur[${g}]; float gn[${g}]; float j[${w + g}];`;
  for (let k = 0; k <= c.hidden_layers; k++) {
    const w0 = k === 0 ? c.first_w0 : c.w0;
    code += localLayer(k === 0 ? "x" : "h", k === 0 ? d : w, w4, local.layer[k], w0);
    code += sharedLayer(k === 0 ? "x" : "gcur", "gn", k === 0 ? d : g, g, `global_layers.${k}.linear`, shared, w0);
    code += `
    for (int i = 0; i < ${g}; i++) gcur[i] = gn[i];
    for (int i = 0; i < ${w}; i++) j[i] = loc[i];
    for (int i = 0; i < ${g}; i++) j[${w} + i] = gcur[i];
    merge(j, h);`;
  }
  code += `
    int base = slot * STRIDE + ${local.out};
    vec4 y = lt(base + ${w});
    for (int i = 0; i < ${w}; i++) y += h[i] * lt(base + i);
    return y;
  }`;
  return code;
}

/**
 * The unrolled network, used when the shared weights are baked in: every unit is its own
 * variable (a software renderer keeps them in registers; arrays would live in memory), shared
 * layers are constant-weight sums, local layers read four outputs per texel.
 */
function unrolledSum(inputs, weightAt, bias) {
  let sum = `${bias < 0 ? "-" : ""}${literal(bias)}`;
  inputs.forEach((name, i) => {
    const v = weightAt(i);
    if (v !== 0) sum += ` ${v < 0 ? "-" : "+"} ${name} * ${literal(v)}`;
  });
  return sum;
}

function bakedSharedLayer(inputs, name, file, w0, prefix, sine = true) {
  const weight = file.tensors[`${name}.weight`].values, bias = file.tensors[`${name}.bias`].values;
  const nIn = inputs.length, nOut = bias.length, outputs = [];
  let code = "";
  for (let o = 0; o < nOut; o++) {
    const sum = unrolledSum(inputs, (i) => weight[o * nIn + i], bias[o]);
    code += `\n    float ${prefix}${o} = ${sine ? `sine(${num(w0)} * (${sum}))` : sum};`;
    outputs.push(`${prefix}${o}`);
  }
  return { code, outputs };
}

function unrolledLocalLayer(inputs, width, offset, w0, prefix) {
  const w4 = Math.ceil(width / 4), nIn = inputs.length, outputs = [];
  let code = "";
  for (let o4 = 0; o4 < w4; o4++) {
    const v = `${prefix}${o4}`;
    code += `\n    vec4 ${v} = lt(base + ${offset + nIn * w4 + o4});`;
    inputs.forEach((name, i) => { code += ` ${v} += ${name} * lt(base + ${offset + i * w4 + o4});`; });
    code += ` ${v} = sine4(${num(w0)} * ${v});`;
    for (let c = 0; c < 4 && 4 * o4 + c < width; c++) outputs.push(`${v}.${"xyzw"[c]}`);
  }
  return { code, outputs };
}

function unrolledLocalGlobalCode(file, local) {
  const c = file.meta.model, w = c.local_width;
  const coordinates = [...Array(c.in_dim).keys()].map((a) => `x[${a}]`);
  let code = `const int STRIDE = ${local.stride};
  vec4 network(float x[4], int slot) {
    int base = slot * STRIDE;`;
  let h = coordinates, g = coordinates;
  for (let k = 0; k <= c.hidden_layers; k++) {
    const w0 = k === 0 ? c.first_w0 : c.w0;
    const l = unrolledLocalLayer(h, w, local.layer[k], w0, `l${k}_`);
    const gl = bakedSharedLayer(g, `global_layers.${k}.linear`, file, w0, `g${k}_`);
    const m = bakedSharedLayer([...l.outputs, ...gl.outputs], "merge.linear", file, c.w0, `h${k}_`);
    code += l.code + gl.code + m.code;
    h = m.outputs;
    g = gl.outputs;
  }
  code += `\n    vec4 y = lt(base + ${local.out + w});`;
  h.forEach((name, i) => { code += ` y += ${name} * lt(base + ${local.out + i});`; });
  return code + `\n    return y;\n  }`;
}

function unrolledSirenCode(file) {
  const c = file.meta.model;
  let h = [...Array(c.in_dim).keys()].map((a) => `x[${a}]`);
  let code = `vec4 network(float x[4], int slot) {`;
  for (let k = 0; k <= c.hidden_layers; k++) {
    const layer = bakedSharedLayer(h, `body.${k}.linear`, file, k === 0 ? c.first_w0 : c.w0, `h${k}_`);
    code += layer.code;
    h = layer.outputs;
  }
  const head = bakedSharedLayer(h, "head", file, 0, "y", false);
  const y = [0, 1, 2, 3].map((o) => (o < head.outputs.length ? head.outputs[o] : "0.0"));
  return code + head.code + `\n    return vec4(${y.join(", ")});\n  }`;
}

/** Routing and blending along every axis, then the weighted sum of up to 2^d networks. */
function decodeCode(file, off) {
  const c = file.meta.model, d = c.in_dim;
  const { origin, span } = frameOf(file.meta);
  if (file.meta.arch !== "lg-siren") {
    return `vec4 decodeAt(float u[4]) {
    float x[4];
    ${[...Array(d).keys()].map((a) => `x[${a}] = 2.0 * (u[${a}] - ${num(origin[a])}) / ${num(span[a])} - 1.0;`).join("\n    ")}
    return network(x, 0);
  }`;
  }
  const part = c.partitioning;
  let code = `vec4 decodeAt(float u[4]) {
    float x[4]; int own[4]; int other[4]; float t[4];`;
  for (let a = 0; a < d; a++) {
    const [lo, hi] = part.kept[a], P = part.edges[a].length - 1, e = off[`edges.${a}`];
    code += `
    {
      x[${a}] = 2.0 * (u[${a}] - ${num(origin[a])}) / ${num(span[a])} - 1.0;
      float pos = (x[${a}] + 1.0) * ${num(span[a] / 2)} + ${num(origin[a])};
      int first = 0, last = ${P};               // binary search: the partition whose edge precedes pos
      while (last - first > 1) { int mid = (first + last) / 2; if (wt(${e} + mid) <= pos) first = mid; else last = mid; }
      int p = clamp(first, ${lo}, ${hi - 1});
      float lo = wt(${e} + p) + 0.5, hi = wt(${e} + p + 1) - 0.5;
      int q = p; float s = 0.0;
      if (pos < lo && p > ${lo}) { q = p - 1; s = lo - pos; }
      else if (pos > hi && p < ${hi - 1}) { q = p + 1; s = pos - hi; }
      own[${a}] = p; other[${a}] = q; t[${a}] = clamp(s, 0.0, 0.5);
    }`;
  }
  code += `
    vec4 y = vec4(0.0);
    for (int combo = 0; combo < ${1 << d}; combo++) {
      float weight = 1.0; int slot = 0; bool skip = false;
      for (int a = 0; a < ${d}; a++) {
        bool useOther = ((combo >> a) & 1) == 1;
        if (useOther && other[a] == own[a]) { skip = true; break; }
        weight *= useOther ? t[a] : 1.0 - t[a];
        slot = slot * SIZE[a] + ((useOther ? other[a] : own[a]) - LO[a]);
      }
      if (skip || !(weight > 0.0)) continue;
      y += weight * network(x, slot);
    }
    return y;
  }`;
  const sizes = part.kept.map(([lo, hi]) => hi - lo), los = part.kept.map(([lo]) => lo);
  const pad = (xs) => [...xs, ...Array(4 - xs.length).fill(0)];
  return `const int SIZE[4] = int[4](${pad(sizes).join(", ")});
  const int LO[4] = int[4](${pad(los).join(", ")});
  ${code}`;
}

/**
 * The fragment shader.  Pixels map to sample positions by layout:
 *   "plane": a W×H view of two axes (rows top to bottom, columns left to right), every other
 *            axis fixed at u_fixed (video: the frame; volumes and shapes: the slice);
 *   "line":  a texture read row by row as one axis of n samples (audio).
 * u_from/u_to: the view's range in samples on each axis (u_count samples over it).
 */
export function shaderSource(file, layout, planeAxes, shared = packShared(file), local = null) {
  const meta = file.meta, d = meta.model.in_dim;
  const lg = meta.arch === "lg-siren";
  const baked = sharedCount(file) <= BAKE_LIMIT;
  const packedLocal = lg ? local || packLocal(file) : null;
  const net = baked ? (lg ? unrolledLocalGlobalCode(file, packedLocal) : unrolledSirenCode(file))
    : (lg ? localGlobalCode(file, shared, packedLocal) : sirenCode(file, shared));
  const [rowAxis, colAxis] = planeAxes || [d - 2, d - 1];
  const positions = layout === "line"
    ? `int index = int(gl_FragCoord.y) * u_width + int(gl_FragCoord.x);
    if (index >= u_count.x) discard;
    u[0] = u_from.x + (float(index) + 0.5) * (u_to.x - u_from.x) / float(u_count.x);`
    : `int row = u_count.y - 1 - int(gl_FragCoord.y), col = int(gl_FragCoord.x);
    for (int a = 0; a < 4; a++) u[a] = u_fixed[a];
    u[${rowAxis}] = u_from.y + (float(row) + 0.5) * (u_to.y - u_from.y) / float(u_count.y);
    u[${colAxis}] = u_from.x + (float(col) + 0.5) * (u_to.x - u_from.x) / float(u_count.x);`;
  return `#version 300 es
  precision highp float;
  precision highp int;
  uniform highp sampler2D u_weights;  // shared weights that are not constants, and the edges
  uniform highp sampler2D u_local;    // the partitions' own weights, RGBA
  uniform vec2 u_from, u_to;      // x: columns (or the line's axis), y: rows
  uniform ivec2 u_count;          // output samples: x columns, y rows
  uniform float u_fixed[4];       // positions of the axes not shown
  uniform int u_width;            // line layout: texels per row
  uniform int u_mode;             // 0: 8-bit display colours, 1: raw natural values
  uniform float u_offset, u_scale;
  uniform vec2 u_display;          // natural values shown black…white (images: 0…1; volumes: their range)
  out vec4 outColor;
  // sin with float32 accuracy at any argument: a software renderer's sin loses digits past a
  // few radians, and audio's first layer (ω0 up to 3000) goes far beyond.  Reduce by π in three
  // parts (Cody–Waite: k·PI_A and k·PI_B are exact), then the Taylor series to r¹¹ on
  // [−π/2, π/2] (error < 6e-8); sin(x) = (−1)^k sin(r).
  ${sineFunction("sine4", "vec4")}
  ${sineFunction("sine", "float")}
  float wt(int i) { return texelFetch(u_weights, ivec2(i % ${TEXTURE_WIDTH}, i / ${TEXTURE_WIDTH}), 0).r; }
  vec4 lt(int i) { return texelFetch(u_local, ivec2(i % ${TEXTURE_WIDTH}, i / ${TEXTURE_WIDTH}), 0); }
  ${net}
  ${decodeCode(file, shared.offsets)}
  void main() {
    float u[4];
    ${positions}
    vec4 v = u_offset + u_scale * decodeAt(u);
    if (u_mode == 1) { outColor = v; return; }
    v = (v - u_display.x) / (u_display.y - u_display.x);
    vec4 q = floor(clamp(v, 0.0, 1.0) * 255.0 + 0.5) / 255.0;   // the writer's rounding, 8 bits
    ${displayMapping(meta.signal.channels)}
  }`;
}

/** The accurate sine of shaderSource's comment, for one float or four. */
function sineFunction(name, type) {
  return `${type} ${name}(${type} x) {
    ${type} k = floor(x * 0.318309886 + 0.5);
    ${type} r = ((x - k * 3.140625) - k * 9.677410125732422e-4) + k * 8.742277657347586e-8;
    ${type} r2 = r * r;
    ${type} s = r * (1.0 + r2 * (-1.66666667e-1 + r2 * (8.33333333e-3 + r2 * (-1.98412698e-4 + r2 * (2.75573192e-6 - r2 * 2.50521084e-8)))));
    return s * (1.0 - 2.0 * mod(k, 2.0));
  }`;
}

/** Natural values shown as black and white: an image's 0…1, a volume's recorded range. */
export function displayRange(meta) {
  const { low, high } = meta.signal.info;
  return meta.kind === "volume" && high > low ? [low, high] : [0, 1];
}

function displayMapping(channels) {
  if (channels === 1) return "outColor = vec4(q.rrr, 1.0);";
  if (channels === 2) return "outColor = vec4(q.rrr * q.g, q.g);";
  if (channels === 3) return "outColor = vec4(q.rgb, 1.0);";
  return "outColor = vec4(q.rgb * q.a, q.a);";
}

function dataTexture(gl, format, channels, packed) {
  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.texImage2D(gl.TEXTURE_2D, 0, format, TEXTURE_WIDTH, packed.rows, 0, channels, gl.FLOAT, packed.data);
  for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
  return texture;
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
  return shader;
}

const VERTEX = `#version 300 es
  void main() { vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2)); gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0); }`;

/** One file's network on one WebGL2 context. */
export class GpuNetwork {
  /**
   * @param {WebGL2RenderingContext} gl
   * @param {object} file parsed inr file
   * @param {"plane"|"line"} layout
   * @param {number[]} planeAxes for "plane": the axes shown as rows and columns
   */
  constructor(gl, file, layout, planeAxes) {
    this.gl = gl;
    this.file = file;
    const shared = packShared(file);
    const local = file.meta.arch === "lg-siren" ? packLocal(file) : { data: new Float32Array(4 * TEXTURE_WIDTH), rows: 1 };
    this.texture = dataTexture(gl, gl.R32F, gl.RED, shared);
    this.localTexture = dataTexture(gl, gl.RGBA32F, gl.RGBA, local);
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, shaderSource(file, layout, planeAxes, shared, local.stride ? local : null)));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`shader link: ${gl.getProgramInfoLog(program)}`);
    this.program = program;
    this.vao = gl.createVertexArray();
  }

  /** Draw into the bound framebuffer (viewport = count); view: {from: [x, y], to: [x, y], count: [w, h], fixed, width, mode}. */
  draw(view) {
    const gl = this.gl, p = this.program, loc = (name) => gl.getUniformLocation(p, name);
    gl.useProgram(p);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    gl.uniform1i(loc("u_weights"), 0);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, this.localTexture);
    gl.uniform1i(loc("u_local"), 1);
    gl.activeTexture(gl.TEXTURE0);
    gl.uniform2f(loc("u_from"), view.from[0], view.from[1] ?? 0);
    gl.uniform2f(loc("u_to"), view.to[0], view.to[1] ?? 1);
    gl.uniform2i(loc("u_count"), view.count[0], view.count[1] ?? 1);
    gl.uniform1fv(loc("u_fixed[0]"), Float32Array.from([...(view.fixed || []), 0, 0, 0, 0].slice(0, 4)));
    gl.uniform1i(loc("u_width"), view.width || view.count[0]);
    gl.uniform1i(loc("u_mode"), view.mode || 0);
    gl.uniform1f(loc("u_offset"), this.file.meta.signal.offset);
    gl.uniform1f(loc("u_scale"), this.file.meta.signal.scale);
    gl.uniform2f(loc("u_display"), ...displayRange(this.file.meta));
    gl.bindVertexArray(this.vao);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
  }

  /**
   * Natural values of n samples over [from, to) along the only axis (layout "line"):
   * rendered into a float texture and read back.  Returns Float32Array (n, C).
   */
  evaluateLine(from, to, n) {
    const gl = this.gl, C = this.file.meta.signal.channels;
    const width = Math.min(n, 4096), rows = Math.ceil(n / width);
    const target = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, target);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, width, rows, 0, gl.RGBA, gl.FLOAT, null);
    const fbo = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, target, 0);
    gl.viewport(0, 0, width, rows);
    this.draw({ from: [from], to: [to], count: [n, 1], width, mode: 1 });
    const rgba = new Float32Array(width * rows * 4);
    gl.readPixels(0, 0, width, rows, gl.RGBA, gl.FLOAT, rgba);
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.deleteFramebuffer(fbo);
    gl.deleteTexture(target);
    const out = new Float32Array(n * C);
    for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) out[i * C + c] = rgba[i * 4 + c];
    return out;
  }
}

/** A WebGL2 context that can render float textures, or null (the page falls back to the CPU). */
export function webgl2(canvas) {
  const gl = canvas.getContext("webgl2", { preserveDrawingBuffer: true, antialias: false, premultipliedAlpha: true });
  if (!gl || !gl.getExtension("EXT_color_buffer_float")) return null;
  return gl;
}
