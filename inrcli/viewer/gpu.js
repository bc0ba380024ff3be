// The network on the GPU: a WebGL2 fragment shader evaluates the whole decode (routing, blending
// and every partition's Local-Global SIREN, or a plain SIREN) once per pixel, so a view at any
// zoom is the network's own output, never an upscale.  The shader is generated per file with its
// widths and tensor offsets as constants; the weights (and the partition edges) live in one
// float texture.  docs/FORMAT.md is the specification; decoder.js is the CPU twin.

import { frameOf } from "./decoder.js";

const TEXTURE_WIDTH = 2048;

/** Every weight tensor, then every axis's edges, in one Float32Array; name → offset. */
function packWeights(file) {
  const offsets = {};
  const parts = [];
  let size = 0;
  for (const [name, tensor] of Object.entries(file.tensors)) {
    if (name.startsWith("graph.")) continue;
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
  const rows = Math.max(1, Math.ceil(size / TEXTURE_WIDTH));
  const data = new Float32Array(rows * TEXTURE_WIDTH);
  let at = 0;
  for (const part of parts) { data.set(part, at); at += part.length; }
  return { data, rows, offsets };
}

const num = (x) => (Number.isInteger(x) ? `${x}.0` : `${x}`);

/** One sine layer as GLSL: out[o] = sin(w0 (Σ in[i] W + b)); strides as for decoder.js. */
function layerCode(input, output, nIn, nOut, wBase, inStride, outStride, bBase, w0) {
  return `
    for (int o = 0; o < ${nOut}; o++) {
      float acc = wt(${bBase} + o);
      int base = ${wBase} + o * ${outStride};
      for (int i = 0; i < ${nIn}; i++) acc += ${input}[i] * wt(base + i * ${inStride});
      ${output}[o] = sine(${num(w0)} * acc);
    }`;
}

function sirenCode(file, off) {
  const c = file.meta.model;
  let code = `vec4 network(float x[4], int slot) {\n    float h[${c.width}]; float n[${c.width}];`;
  code += layerCode("x", "h", c.in_dim, c.width, off["body.0.linear.weight"], 1, c.in_dim, off["body.0.linear.bias"], c.first_w0);
  for (let k = 1; k <= c.hidden_layers; k++) {
    code += layerCode("h", "n", c.width, c.width, off[`body.${k}.linear.weight`], 1, c.width, off[`body.${k}.linear.bias`], c.w0);
    code += `\n    h = n;`;
  }
  code += `
    vec4 y = vec4(0.0);
    for (int o = 0; o < ${c.out_dim}; o++) {
      float acc = wt(${off["head.bias"]} + o);
      for (int i = 0; i < ${c.width}; i++) acc += h[i] * wt(${off["head.weight"]} + o * ${c.width} + i);
      y[o] = acc;
    }
    return y;
  }`;
  return code;
}

function localGlobalCode(file, off) {
  const c = file.meta.model;
  const w = c.local_width, g = c.global_width, d = c.in_dim;
  let code = `vec4 network(float x[4], int slot) {
    float h[${w}]; float loc[${w}]; float gcur[${g}]; float gn[${g}]; float j[${w + g}];`;
  for (let k = 0; k <= c.hidden_layers; k++) {
    const nIn = k === 0 ? d : w, gIn = k === 0 ? d : g, w0 = k === 0 ? c.first_w0 : c.w0;
    const hIn = k === 0 ? "x" : "h", gInName = k === 0 ? "x" : "gcur";
    code += `\n    int lw${k} = ${off[`local_weight.${k}`]} + slot * ${nIn * w}; int lb${k} = ${off[`local_bias.${k}`]} + slot * ${w};`;
    code += layerCode(hIn, "loc", nIn, w, `lw${k}`, w, 1, `lb${k}`, w0);
    code += layerCode(gInName, "gn", gIn, g, off[`global_layers.${k}.linear.weight`], 1, gIn, off[`global_layers.${k}.linear.bias`], w0);
    code += `
    for (int i = 0; i < ${g}; i++) gcur[i] = gn[i];
    for (int i = 0; i < ${w}; i++) j[i] = loc[i];
    for (int i = 0; i < ${g}; i++) j[${w} + i] = gcur[i];`;
    code += layerCode("j", "h", w + g, w, off["merge.linear.weight"], 1, w + g, off["merge.linear.bias"], c.w0);
  }
  code += `
    vec4 y = vec4(0.0);
    for (int o = 0; o < ${c.out_dim}; o++) {
      float acc = wt(${off.out_bias} + slot * ${c.out_dim} + o);
      for (int i = 0; i < ${w}; i++) acc += h[i] * wt(${off.out_weight} + (slot * ${w} + i) * ${c.out_dim} + o);
      y[o] = acc;
    }
    return y;
  }`;
  return code;
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
export function shaderSource(file, layout, planeAxes) {
  const { offsets } = packWeights(file);
  const meta = file.meta, d = meta.model.in_dim;
  const net = meta.arch === "lg-siren" ? localGlobalCode(file, offsets) : sirenCode(file, offsets);
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
  uniform highp sampler2D u_weights;
  uniform vec2 u_from, u_to;      // x: columns (or the line's axis), y: rows
  uniform ivec2 u_count;          // output samples: x columns, y rows
  uniform float u_fixed[4];       // positions of the axes not shown
  uniform int u_width;            // line layout: texels per row
  uniform int u_mode;             // 0: 8-bit display colours, 1: raw natural values
  uniform float u_offset, u_scale;
  out vec4 outColor;
  // sin with float32 accuracy at any argument: software renderers' sin loses digits past a few
  // radians, and audio's first layer (ω0 up to 3000) goes far beyond.  Cody–Waite reduction by
  // π/2 in three parts, then Taylor series to x¹¹ on [−π/4, π/4] (error < 1e-9 there).
  float sine(float x) {
    float k = floor(x * 0.63661975 + 0.5);
    float r = ((x - k * 1.5703125) - k * 4.8351287841796875e-4) - k * 3.13916473e-7;
    float r2 = r * r;
    float s = r * (1.0 + r2 * (-1.6666667e-1 + r2 * (8.3333333e-3 + r2 * (-1.9841270e-4 + r2 * (2.7557319e-6 - r2 * 2.5052108e-8)))));
    float c = 1.0 + r2 * (-0.5 + r2 * (4.1666667e-2 + r2 * (-1.3888889e-3 + r2 * (2.4801587e-5 - r2 * 2.7557319e-7))));
    int q = int(k - 4.0 * floor(k * 0.25));
    return q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
  }
  float wt(int i) { return texelFetch(u_weights, ivec2(i % ${TEXTURE_WIDTH}, i / ${TEXTURE_WIDTH}), 0).r; }
  ${net}
  ${decodeCode(file, offsets)}
  void main() {
    float u[4];
    ${positions}
    vec4 v = u_offset + u_scale * decodeAt(u);
    if (u_mode == 1) { outColor = v; return; }
    vec4 q = floor(clamp(v, 0.0, 1.0) * 255.0 + 0.5) / 255.0;   // the writer's rounding, 8 bits
    ${displayMapping(meta.signal.channels)}
  }`;
}

function displayMapping(channels) {
  if (channels === 1) return "outColor = vec4(q.rrr, 1.0);";
  if (channels === 2) return "outColor = vec4(q.rrr * q.g, q.g);";
  if (channels === 3) return "outColor = vec4(q.rgb, 1.0);";
  return "outColor = vec4(q.rgb * q.a, q.a);";
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
    const packed = packWeights(file);
    this.texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, TEXTURE_WIDTH, packed.rows, 0, gl.RED, gl.FLOAT, packed.data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    const program = gl.createProgram();
    gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, shaderSource(file, layout, planeAxes)));
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
    gl.uniform2f(loc("u_from"), view.from[0], view.from[1] ?? 0);
    gl.uniform2f(loc("u_to"), view.to[0], view.to[1] ?? 1);
    gl.uniform2i(loc("u_count"), view.count[0], view.count[1] ?? 1);
    gl.uniform1fv(loc("u_fixed[0]"), Float32Array.from([...(view.fixed || []), 0, 0, 0, 0].slice(0, 4)));
    gl.uniform1i(loc("u_width"), view.width || view.count[0]);
    gl.uniform1i(loc("u_mode"), view.mode || 0);
    gl.uniform1f(loc("u_offset"), this.file.meta.signal.offset);
    gl.uniform1f(loc("u_scale"), this.file.meta.signal.scale);
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
