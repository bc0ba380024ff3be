// Images, video frames and volume slices: a pannable, zoomable plane of two axes, decoded by the
// network for every screen pixel (GPU, or CPU fallback), with the partition grid, per-partition
// details on hover, a crop tool, and the original image side by side.

import { GpuNetwork, displayRange } from "./gpu.js";
import { centres, evaluateGrid, toNatural } from "./decoder.js";
import { cropInr, parametersPerPartition, slotsOf } from "./format.js";
import { el, formatInt } from "./ui.js";

/** Index of the partition holding position u along an axis (clamped to the kept block). */
function partitionAt(edges, kept, u) {
  let p = 0;
  while (p + 1 < edges.length - 1 && edges[p + 1] <= u) p++;
  return Math.min(Math.max(p, kept[0]), kept[1] - 1);
}

const TILE = 96;

/** Screen tiles [x, y, w, h] (y from the top), nearest the centre first. */
function tilesOf(width, height) {
  const tiles = [];
  for (let y = 0; y < height; y += TILE) for (let x = 0; x < width; x += TILE) tiles.push([x, y, Math.min(TILE, width - x), Math.min(TILE, height - y)]);
  const distance = ([x, y, w, h]) => Math.hypot(x + w / 2 - width / 2, y + h / 2 - height / 2);
  return tiles.sort((a, b) => distance(a) - distance(b));
}

export class PlaneView {
  /**
   * @param {object} ctx {file, entry, stage, controls, hover, cropBox, gl, glCanvas, status}
   */
  constructor(ctx) {
    Object.assign(this, ctx);
    const meta = this.file.meta, d = meta.model.in_dim;
    this.d = d;
    this.rowAxis = d - 2;
    this.colAxis = d - 1;
    this.window = meta.signal.window;
    this.fixed = this.window.map(([lo, hi]) => (lo + hi) / 2); // positions of axes not shown
    if (d === 3) this.fixed[0] = this.window[0][0] + 0.5; // first frame (or slice) centre
    this.partitioning = meta.arch === "lg-siren" ? meta.model.partitioning : null;
    this.gpu = this.gl ? new GpuNetwork(this.gl, this.file, "plane", [this.rowAxis, this.colAxis]) : null;
    this.showGrid = true;
    this.cropMode = false;
    this.buildPanes();
    this.buildControls();
    this.fit();
  }

  buildPanes() {
    this.pane = el("div", { class: "pane" }, [el("span", { class: "label" }, ["decoded by the network"])]);
    this.pane.append(this.glCanvas);
    this.overlay = el("canvas");
    this.pane.append(this.overlay);
    this.stage.append(this.pane);
    if (this.entry.original) {
      this.originalImage = new Image();
      this.originalImage.src = this.entry.original;
      this.originalImage.onload = () => this.requestRender();
      this.originalCanvas = el("canvas");
      this.stage.append(el("div", { class: "pane" }, [el("span", { class: "label" }, ["original"]), this.originalCanvas]));
    }
    this.attachPointer(this.overlay);
    if (this.originalCanvas) this.attachPointer(this.originalCanvas);
    new ResizeObserver(() => this.resize()).observe(this.stage);
  }

  buildControls() {
    const buttons = [
      el("button", { onclick: () => this.fit() }, ["fit"]),
      el("button", { onclick: () => this.zoomTo(1) }, ["1:1"]),
      el("button", { class: "active", onclick: (e) => { this.showGrid = !this.showGrid; e.target.classList.toggle("active"); this.drawOverlay(); } }, ["grid"]),
    ];
    if (this.partitioning) {
      buttons.push(el("button", { onclick: (e) => { this.cropMode = !this.cropMode; e.target.classList.toggle("active"); } }, ["crop"]));
    }
    this.controls.append(el("h3", {}, ["view"]), el("div", {}, buttons));
    this.zoomLabel = el("div");
    this.controls.append(this.zoomLabel);
    if (this.d === 3) this.buildSlider();
  }

  /** Video: frame slider and play; volumes: slice slider.  Positions are continuous. */
  buildSlider() {
    const [lo, hi] = this.window[0];
    const isVideo = this.file.meta.kind === "video";
    const slider = el("input", { type: "range", min: lo + 0.5, max: hi - 0.5, step: 0.01, value: this.fixed[0] });
    const label = el("span");
    const show = () => { label.textContent = `${isVideo ? "frame" : "slice"} ${(+slider.value - 0.5).toFixed(2)}`; };
    slider.oninput = () => { this.fixed[0] = +slider.value; show(); this.requestRender(); };
    show();
    this.controls.append(el("label", {}, [label, slider]));
    if (!isVideo) return;
    const fps = this.file.meta.signal.info.fps || 25;
    const play = el("button", {}, ["play"]);
    let playing = false, last = 0;
    const step = (now) => {
      if (!playing) return;
      const dt = last ? (now - last) / 1000 : 0;
      last = now;
      let next = +slider.value + dt * fps;
      if (next > hi - 0.5) next = lo + 0.5;
      slider.value = next;
      slider.oninput();
      requestAnimationFrame(step);
    };
    play.onclick = () => { playing = !playing; last = 0; play.textContent = playing ? "pause" : "play"; if (playing) requestAnimationFrame(step); };
    this.controls.append(play);
  }

  attachPointer(target) {
    let drag = null;
    target.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [row, col] = this.positionAt(e.offsetX, e.offsetY);
      const factor = Math.exp(-e.deltaY * 0.002);
      this.zoom *= factor;
      this.center = [row + (this.center[0] - row) / factor, col + (this.center[1] - col) / factor];
      this.requestRender();
    }, { passive: false });
    target.addEventListener("pointerdown", (e) => {
      target.setPointerCapture(e.pointerId);
      drag = { x: e.offsetX, y: e.offsetY, center: [...this.center], start: this.positionAt(e.offsetX, e.offsetY) };
    });
    target.addEventListener("pointermove", (e) => {
      const here = this.positionAt(e.offsetX, e.offsetY);
      this.describe(here);
      if (!drag) return;
      if (this.cropMode) {
        this.selection = [drag.start, here];
        this.showCrop();
        this.drawOverlay();
      } else {
        this.center = [drag.center[0] - (e.offsetY - drag.y) / this.zoom, drag.center[1] - (e.offsetX - drag.x) / this.zoom];
        this.requestRender();
      }
    });
    target.addEventListener("pointerup", () => { drag = null; });
  }

  /** Sample position (row, col) under a screen point of the decoded pane. */
  positionAt(x, y) {
    const { width, height } = this.glCanvas;
    return [this.center[0] + (y - height / 2) / this.zoom, this.center[1] + (x - width / 2) / this.zoom];
  }

  resize() {
    const { clientWidth, clientHeight } = this.pane;
    if (this.explicit || !clientWidth) return;
    for (const canvas of [this.glCanvas, this.overlay, this.originalCanvas]) {
      if (canvas) { canvas.width = clientWidth; canvas.height = clientHeight; }
    }
    this.requestRender();
  }

  fit() {
    this.resize();
    const rows = this.window[this.rowAxis], cols = this.window[this.colAxis];
    const { width, height } = this.glCanvas;
    this.zoom = Math.min(width / (cols[1] - cols[0]), height / (rows[1] - rows[0])) || 1;
    this.center = [(rows[0] + rows[1]) / 2, (cols[0] + cols[1]) / 2];
    this.requestRender();
  }

  zoomTo(zoom) {
    this.zoom = zoom;
    this.requestRender();
  }

  /** Show exactly rows [from[0], to[0]) × columns [from[1], to[1]) on a canvas of size [w, h]. */
  setView(from, to, size) {
    this.explicit = true;
    for (const canvas of [this.glCanvas, this.overlay, this.originalCanvas]) {
      if (canvas) { [canvas.width, canvas.height] = size; canvas.style.width = `${size[0]}px`; canvas.style.height = `${size[1]}px`; }
    }
    this.zoom = size[0] / (to[1] - from[1]);
    this.center = [(from[0] + to[0]) / 2, (from[1] + to[1]) / 2];
    this.renderAll();
  }

  /** Wait for the GPU to finish the frame (reading one pixel back is the only sure fence). */
  finish() {
    if (this.gpu) this.gl.readPixels(0, 0, 1, 1, this.gl.RGBA, this.gl.UNSIGNED_BYTE, new Uint8Array(4));
  }

  requestRender() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  /** The view's range in samples: rows and columns. */
  range() {
    const { width, height } = this.glCanvas;
    const from = [this.center[0] - height / 2 / this.zoom, this.center[1] - width / 2 / this.zoom];
    const to = [this.center[0] + height / 2 / this.zoom, this.center[1] + width / 2 / this.zoom];
    return { from, to, width, height };
  }

  /** Draw the view.  On the GPU it is drawn in tiles, nearest the centre first, a few per
   * animation frame, and a view change abandons the rest: a software renderer takes seconds
   * for a full frame, and the page stays responsive meanwhile. */
  render() {
    const { from, to, width, height } = this.range();
    this.zoomLabel.textContent = `zoom ${this.zoom.toFixed(3)}× (screen pixels per sample)`;
    this.drawOverlay();
    this.drawOriginal(from, to);
    if (!this.gpu) return this.renderOnCpu(from, to, width, height);
    const job = (this.job = { tiles: tilesOf(width, height), started: performance.now() });
    const uniforms = { from: [from[1], from[0]], to: [to[1], to[0]], count: [width, height], fixed: this.fixed, mode: 0 };
    const gl = this.gl;
    const step = () => {
      if (this.job !== job) return;  // the view changed: this frame is stale
      const budget = performance.now() + 40;
      gl.viewport(0, 0, width, height);
      gl.enable(gl.SCISSOR_TEST);
      while (job.tiles.length && performance.now() < budget) {
        const [x, y, w, h] = job.tiles.shift();
        gl.scissor(x, height - y - h, w, h);
        this.gpu.draw(uniforms);
        this.finish();
      }
      gl.disable(gl.SCISSOR_TEST);
      if (job.tiles.length) requestAnimationFrame(step);
      else this.status.textContent = `${this.entry.name}: ${width}×${height} drawn in ${((performance.now() - job.started) / 1000).toFixed(2)} s`;
    };
    step();
  }

  /** The whole view in one draw, finished before returning (tests and the frame-rate benchmark). */
  renderAll() {
    this.job = null;
    const { from, to, width, height } = this.range();
    this.zoomLabel.textContent = `zoom ${this.zoom.toFixed(3)}× (screen pixels per sample)`;
    this.drawOverlay();
    this.drawOriginal(from, to);
    if (!this.gpu) return this.renderOnCpu(from, to, width, height);
    this.gl.viewport(0, 0, width, height);
    this.gpu.draw({ from: [from[1], from[0]], to: [to[1], to[0]], count: [width, height], fixed: this.fixed, mode: 0 });
    this.finish();
  }

  renderOnCpu(from, to, width, height) {
    const axes = this.fixed.map((u) => Float64Array.of(u));
    axes[this.rowAxis] = centres(from[0], to[0], height);
    axes[this.colAxis] = centres(from[1], to[1], width);
    const values = toNatural(this.file, evaluateGrid(this.file, axes));
    const C = this.file.meta.signal.channels;
    const image = this.cpuContext.createImageData(width, height);
    const [low, high] = displayRange(this.file.meta);
    const byte = (v) => Math.round(Math.min(Math.max((v - low) / (high - low), 0), 1) * 255);
    for (let i = 0; i < width * height; i++) {
      const v = values.subarray(i * C, i * C + C);
      const rgb = C >= 3 ? [v[0], v[1], v[2]] : [v[0], v[0], v[0]];
      image.data.set([...rgb.map(byte), C === 2 ? byte(v[1]) : C === 4 ? byte(v[3]) : 255], i * 4);
    }
    this.cpuContext.putImageData(image, 0, 0);
  }

  drawOriginal(from, to) {
    if (!this.originalCanvas || !this.originalImage.complete) return;
    const g = this.originalCanvas.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.clearRect(0, 0, this.originalCanvas.width, this.originalCanvas.height);
    const { width, height } = this.originalCanvas;
    g.drawImage(this.originalImage, from[1], from[0], to[1] - from[1], to[0] - from[0], 0, 0, width, height);
  }

  /** Screen x (or y) of position u along the columns (rows). */
  screen(u, axis) {
    const { from, to, width, height } = this.range();
    const i = axis === 0 ? 0 : 1;
    return ((u - from[i]) / (to[i] - from[i])) * (axis === 0 ? height : width);
  }

  drawOverlay() {
    const g = this.overlay.getContext("2d");
    g.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const rows = this.window[this.rowAxis], cols = this.window[this.colAxis];
    const [top, bottom, left, right] = [this.screen(rows[0], 0), this.screen(rows[1], 0), this.screen(cols[0], 1), this.screen(cols[1], 1)];
    g.fillStyle = "#000a"; // outside the file's window the network only extrapolates
    g.fillRect(0, 0, this.overlay.width, Math.max(0, top));
    g.fillRect(0, bottom, this.overlay.width, this.overlay.height);
    g.fillRect(0, top, Math.max(0, left), bottom - top);
    g.fillRect(right, top, this.overlay.width, bottom - top);
    if (this.showGrid && this.partitioning) {
      g.strokeStyle = "#ffffff55";
      g.beginPath();
      const { edges, kept } = this.partitioning;
      for (let p = kept[this.rowAxis][0]; p <= kept[this.rowAxis][1]; p++) {
        const y = Math.round(this.screen(edges[this.rowAxis][p], 0)) + 0.5;
        g.moveTo(left, y); g.lineTo(right, y);
      }
      for (let p = kept[this.colAxis][0]; p <= kept[this.colAxis][1]; p++) {
        const x = Math.round(this.screen(edges[this.colAxis][p], 1)) + 0.5;
        g.moveTo(x, top); g.lineTo(x, bottom);
      }
      g.stroke();
    }
    const region = this.cropRegion();
    if (region) {
      const { edges } = this.partitioning;
      const [r, c] = [region[this.rowAxis], region[this.colAxis]];
      const y0 = this.screen(edges[this.rowAxis][r[0]], 0), y1 = this.screen(edges[this.rowAxis][r[1]], 0);
      const x0 = this.screen(edges[this.colAxis][c[0]], 1), x1 = this.screen(edges[this.colAxis][c[1]], 1);
      g.strokeStyle = "#ffcc00";
      g.lineWidth = 2;
      g.strokeRect(x0, y0, x1 - x0, y1 - y0);
      g.lineWidth = 1;
    }
  }

  /** Partition details under the pointer. */
  describe([row, col]) {
    const parts = [`sample row ${row.toFixed(2)}, column ${col.toFixed(2)}`];
    if (this.partitioning) {
      const { edges, kept } = this.partitioning;
      const index = this.fixed.map((u, a) => partitionAt(edges[a], kept[a], a === this.rowAxis ? row : a === this.colAxis ? col : u));
      const slot = slotsOf(index.map((p) => [p, p + 1]), kept)[0];
      parts.push(`partition (${index.join(", ")}), slot ${slot}`,
        `${formatInt(parametersPerPartition(this.file))} parameters of its own`,
        `rows ${edges[this.rowAxis][index[this.rowAxis]]}–${edges[this.rowAxis][index[this.rowAxis] + 1]}, columns ${edges[this.colAxis][index[this.colAxis]]}–${edges[this.colAxis][index[this.colAxis] + 1]}`);
    }
    this.hover.replaceChildren(el("h3", {}, ["under the pointer"]), el("div", {}, parts.map((p) => el("div", {}, [p]))));
  }

  /** The block of partitions the dragged rectangle touches, per axis [lo, hi), or null. */
  cropRegion() {
    if (!this.selection || !this.partitioning) return null;
    const { edges, kept } = this.partitioning;
    const [a, b] = this.selection;
    return kept.map((k, axis) => {
      if (axis !== this.rowAxis && axis !== this.colAxis) return [...k];
      const i = axis === this.rowAxis ? 0 : 1;
      const lo = Math.min(a[i], b[i]), hi = Math.max(a[i], b[i]);
      return [partitionAt(edges[axis], k, lo), partitionAt(edges[axis], k, hi) + 1];
    });
  }

  /** The file cropped to `region` (per axis [lo, hi) partition indices), made in the page. */
  cropBytes(region) {
    return cropInr(this.file, region);
  }

  showCrop() {
    const region = this.cropRegion();
    if (!region) return;
    const name = this.entry.name, stem = name.replace(/\.safetensors$/, "");
    const text = region.map(([lo, hi]) => `${lo}:${hi}`).join(",");
    const command = `inr crop ${name} --region ${text} -o ${stem}_crop.safetensors`;
    const download = el("button", {
      onclick: () => {
        const blob = new Blob([this.cropBytes(region)], { type: "application/octet-stream" });
        const link = el("a", { href: URL.createObjectURL(blob), download: `${stem}_crop.safetensors` });
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 1000);
      },
    }, ["download the cropped file (made here)"]);
    const kept = slotsOf(region, this.partitioning.kept).length;
    this.cropBox.replaceChildren(el("h3", {}, ["crop"]), el("code", {}, [command]),
      el("div", {}, [`${kept} partitions kept`]), download);
  }
}
