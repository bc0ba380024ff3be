// The network on the CPU, in JavaScript (docs/FORMAT.md "The forward pass", "Routing and
// blending"): the fallback when WebGL2 is missing, and the decoder of audio, whose samples must
// match `inr decode` within 1e-4.  Arithmetic is float32 where it matters: every layer's
// pre-activation is rounded to float32 before ω0 multiplies it, as the file's writer did.

const f32 = Math.fround;

/** Per axis: the frame (origin, span) in samples; absent in ordinary files. */
export function frameOf(meta) {
  const part = meta.model.partitioning || {};
  const full = meta.signal.full_shape;
  return { origin: part.origin || full.map(() => 0), span: part.span || full };
}

/** Sample positions u_i = from + (i + 0.5)(to − from)/n, i = 0…n−1 (float64). */
export function centres(from, to, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = from + ((i + 0.5) * (to - from)) / n;
  return out;
}

/** sin(x) to float32 accuracy (error < 6e-8), several times faster than Math.sin on the
 * arguments SIREN layers produce: reduction by π (Cody–Waite, three parts), Taylor to r¹¹ on
 * [−π/2, π/2] — the same function as the shader's. */
function sine(x) {
  const k = Math.floor(x * 0.3183098861837907 + 0.5);
  const r = x - k * 3.140625 - k * 9.677410125732422e-4 + k * 8.742277657347586e-8;
  const r2 = r * r;
  const s = r * (1 + r2 * (-1.6666666666666666e-1 + r2 * (8.333333333333333e-3 + r2 * (-1.984126984126984e-4
    + r2 * (2.7557319223985893e-6 - r2 * 2.505210838544172e-8)))));
  return k & 1 ? -s : s;
}

/** One sine layer on one point: out[o] = sin(ω0 · f32(Σ_i x[i] W[i, o] + b[o])). */
function sineLayer(x, weights, wOffset, inStride, outStride, bias, bOffset, nIn, nOut, w0, out) {
  for (let o = 0; o < nOut; o++) {
    let acc = bias[bOffset + o];
    for (let i = 0; i < nIn; i++) acc += x[i] * weights[wOffset + i * inStride + o * outStride];
    out[o] = f32(sine(f32(w0 * f32(acc))));
  }
}

/** A reusable evaluator of one file's network at single points. */
export class CpuNetwork {
  constructor(file) {
    this.file = file;
    this.t = Object.fromEntries(Object.entries(file.tensors).map(([k, v]) => [k, v.values]));
    this.config = file.meta.model;
    const c = this.config;
    const buffer = (n) => new Float64Array(Math.max(n || 0, 1));
    [this.sA, this.sB] = [buffer(c.width), buffer(c.width)];
    [this.hA, this.hB, this.local] = [buffer(c.local_width), buffer(c.local_width), buffer(c.local_width)];
    [this.gA, this.gB] = [buffer(c.global_width), buffer(c.global_width)];
    this.joined = buffer((c.local_width || 0) + (c.global_width || 0));
    // tensors by depth, looked up once (not by name for every point)
    const depths = [...Array(c.hidden_layers + 1).keys()];
    const at = (name) => this.t[name];
    this.body = depths.map((k) => [at(`body.${k}.linear.weight`), at(`body.${k}.linear.bias`)]);
    this.localLayers = depths.map((k) => [at(`local_weight.${k}`), at(`local_bias.${k}`)]);
    this.globalLayers = depths.map((k) => [at(`global_layers.${k}.linear.weight`), at(`global_layers.${k}.linear.bias`)]);
  }

  /** SIREN at x (length d) into out (length C). */
  siren(x, out) {
    const { t, config: c } = this;
    let h = x, nIn = c.in_dim;
    for (let k = 0; k <= c.hidden_layers; k++) {
      const next = k % 2 ? this.sB : this.sA;
      // body weights are stored (out, in): element (o, i) at o·in + i
      sineLayer(h, this.body[k][0], 0, 1, nIn, this.body[k][1], 0, nIn, c.width,
        k === 0 ? c.first_w0 : c.w0, next);
      h = next;
      nIn = c.width;
    }
    const head = t["head.weight"], bias = t["head.bias"];
    for (let o = 0; o < c.out_dim; o++) {
      let acc = bias[o];
      for (let i = 0; i < c.width; i++) acc += h[i] * head[o * c.width + i];
      out[o] = f32(acc);
    }
  }

  /** Local-Global SIREN at x through `slot`, into out (length C). */
  localGlobal(x, slot, out) {
    const { t, config: c, local, joined } = this;
    const w = c.local_width, gw = c.global_width;
    let h = x, g = x, nIn = c.in_dim, nInG = c.in_dim;
    for (let k = 0; k <= c.hidden_layers; k++) {
      const w0 = k === 0 ? c.first_w0 : c.w0;
      const [gNext, hNext] = k % 2 ? [this.gB, this.hB] : [this.gA, this.hA];
      // local weights are stored (S, in, out): element (s, i, o) at (s·in + i)·out + o
      sineLayer(h, this.localLayers[k][0], slot * nIn * w, w, 1, this.localLayers[k][1], slot * w, nIn, w, w0, local);
      sineLayer(g, this.globalLayers[k][0], 0, 1, nInG, this.globalLayers[k][1], 0, nInG, gw, w0, gNext);
      g = gNext;
      joined.set(local.subarray(0, w), 0);
      joined.set(g.subarray(0, gw), w);
      sineLayer(joined, t["merge.linear.weight"], 0, 1, w + gw, t["merge.linear.bias"], 0, w + gw, w, c.w0, hNext);
      h = hNext;
      nIn = w;
      nInG = gw;
    }
    const ow = t.out_weight, ob = t.out_bias, C = c.out_dim;
    for (let o = 0; o < C; o++) {
      let acc = ob[slot * C + o];
      for (let i = 0; i < w; i++) acc += h[i] * ow[(slot * w + i) * C + o];
      out[o] = f32(acc);
    }
  }
}

/**
 * Per axis and sample: the partitions that evaluate it and their weights (FORMAT.md "Routing
 * and blending").  Returns, per axis, {own, neighbour, t} arrays over the axis's positions.
 * @param {Float64Array} positions sample positions u along the axis
 */
export function blendAxis(positions, edges, kept, origin, span) {
  const [lo, hi] = kept;
  const n = positions.length;
  const own = new Int32Array(n), neighbour = new Int32Array(n), t = new Float64Array(n);
  const inner = edges.slice(1, -1).map((e) => (2 * (e - origin)) / span - 1);
  for (let i = 0; i < n; i++) {
    const c = (2 * (positions[i] - origin)) / span - 1;
    let count = 0;
    while (count < inner.length && inner[count] <= c) count++;
    const p = Math.min(Math.max(count, lo), hi - 1);
    const u = ((c + 1) * span) / 2 + origin;
    const first = edges[p] + 0.5, last = edges[p + 1] - 0.5;
    let q = p, weight = 0;
    if (u < first && p > lo) { q = p - 1; weight = first - u; }
    else if (u > last && p < hi - 1) { q = p + 1; weight = u - last; }
    own[i] = p; neighbour[i] = q; t[i] = Math.min(Math.max(weight, 0), 0.5);
  }
  return { own, neighbour, t };
}

/**
 * The network's raw outputs on the outer product of per-axis sample positions.
 * @param {object} file parsed inr file
 * @param {Float64Array[]} axes positions u per axis, in samples
 * @returns {Float32Array} (n_0 · … · n_{d−1}, C), last axis fastest
 */
export function evaluateGrid(file, axes) {
  const net = new CpuNetwork(file);
  const c = file.meta.model, C = c.out_dim, d = axes.length;
  const { origin, span } = frameOf(file.meta);
  const sizes = axes.map((a) => a.length);
  const total = sizes.reduce((x, y) => x * y, 1);
  const out = new Float32Array(total * C);
  const coord = new Float64Array(d), value = new Float64Array(C);
  const blends = file.meta.arch === "lg-siren"
    ? axes.map((a, i) => blendAxis(a, c.partitioning.edges[i], c.partitioning.kept[i], origin[i], span[i])) : null;
  const index = new Array(d).fill(0);
  for (let n = 0; n < total; n++) {
    let rest = n;
    for (let a = d - 1; a >= 0; a--) { index[a] = rest % sizes[a]; rest = Math.floor(rest / sizes[a]); }
    for (let a = 0; a < d; a++) coord[a] = f32((2 * (axes[a][index[a]] - origin[a])) / span[a] - 1);
    if (!blends) {
      net.siren(coord, value);
      for (let o = 0; o < C; o++) out[n * C + o] = value[o];
      continue;
    }
    for (let combo = 0; combo < 1 << d; combo++) {
      let weight = 1, slot = 0, skip = false;
      for (let a = 0; a < d; a++) {
        const b = blends[a], i = index[a], useNeighbour = (combo >> a) & 1;
        if (useNeighbour && b.neighbour[i] === b.own[i]) { skip = true; break; }
        const w = useNeighbour ? b.t[i] : 1 - b.t[i];
        const p = useNeighbour ? b.neighbour[i] : b.own[i];
        const [lo, hi] = c.partitioning.kept[a];
        weight *= w;
        slot = slot * (hi - lo) + (p - lo);
      }
      if (skip || !(weight > 0)) continue;
      net.localGlobal(coord, slot, value);
      for (let o = 0; o < C; o++) out[n * C + o] += f32(value[o] * weight);
    }
  }
  return out;
}

/** Natural values: offset + scale · y (float32), in place. */
export function toNatural(file, values) {
  const { offset, scale } = file.meta.signal;
  for (let i = 0; i < values.length; i++) values[i] = f32(offset + f32(scale * values[i]));
  return values;
}
