// Audio: waveform and spectrogram with zoom in time, and playback at any sample rate.  Zoomed
// out, the waveform is the envelope of the decode at the stored rate; zoomed in past one sample
// per pixel, the network is evaluated at every pixel, so the curve between samples is its own.

import { GpuNetwork } from "./gpu.js";
import { centres, evaluateGrid, toNatural } from "./decoder.js";
import { el } from "./ui.js";

const FFT_SIZE = 512;
const PLAYBACK_RATES = [8000, 16000, 22050, 44100, 48000, 96000];

/** In-place radix-2 FFT of (re, im), length a power of two. */
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const step = (-2 * Math.PI) / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < size / 2; k++) {
        const cos = Math.cos(step * k), sin = Math.sin(step * k);
        const a = start + k, b = a + size / 2;
        const tr = re[b] * cos - im[b] * sin, ti = re[b] * sin + im[b] * cos;
        re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
      }
    }
  }
}

/** Magnitudes in dB: (columns, FFT_SIZE / 2) of the first channel, Hann window, `hop` apart. */
function spectrogram(samples, channels, hop) {
  const n = samples.length / channels;
  const columns = Math.max(1, Math.floor((n - FFT_SIZE) / hop) + 1);
  const out = new Float32Array(columns * (FFT_SIZE / 2));
  const re = new Float64Array(FFT_SIZE), im = new Float64Array(FFT_SIZE);
  for (let c = 0; c < columns; c++) {
    for (let i = 0; i < FFT_SIZE; i++) {
      const at = c * hop + i;
      re[i] = at < n ? samples[at * channels] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE)) : 0;
      im[i] = 0;
    }
    fft(re, im);
    for (let k = 0; k < FFT_SIZE / 2; k++) out[c * (FFT_SIZE / 2) + k] = 10 * Math.log10(re[k] ** 2 + im[k] ** 2 + 1e-12);
  }
  return { values: out, columns };
}

/** A dark-to-bright colour for t in [0, 1]. */
function heat(t) {
  const x = Math.min(Math.max(t, 0), 1);
  return [Math.round(255 * Math.min(1, 2 * x)), Math.round(255 * Math.max(0, Math.min(1, 2 * x - 0.5))), Math.round(255 * Math.max(0, 3 * x - 2))];
}

export class AudioView {
  constructor(ctx) {
    Object.assign(this, ctx);
    const signal = this.file.meta.signal;
    this.rate = signal.info.rate;
    this.channels = signal.channels;
    [this.lo, this.hi] = signal.window[0];
    this.gpu = this.gl ? new GpuNetwork(this.gl, this.file, "line") : null;
    this.samples = this.decode(this.lo, this.hi, this.hi - this.lo);
    this.view = [this.lo, this.hi];
    this.wave = el("canvas");
    this.spectrum = el("canvas");
    this.stage.append(el("div", { class: "pane column" }, [this.wave, this.spectrum]));
    this.buildSpectrogram();
    this.buildControls();
    for (const canvas of [this.wave, this.spectrum]) this.attachPointer(canvas);
    new ResizeObserver(() => this.render()).observe(this.stage);
  }

  /**
   * Natural sample values of n samples spread over positions [from, to) (in samples).
   * @returns {Float32Array} (n, channels)
   */
  decode(from, to, n) {
    if (this.gpu) return this.gpu.evaluateLine(from, to, n);
    return toNatural(this.file, evaluateGrid(this.file, [centres(from, to, n)]));
  }

  buildSpectrogram() {
    const n = this.hi - this.lo;
    const hop = Math.max(16, Math.ceil(n / 2048));
    const { values, columns } = spectrogram(this.samples, this.channels, hop);
    let top = -Infinity;
    for (const v of values) top = Math.max(top, v);
    const bins = FFT_SIZE / 2;
    this.spectrumImage = new OffscreenCanvas(columns, bins);
    const image = new ImageData(columns, bins);
    for (let c = 0; c < columns; c++) {
      for (let k = 0; k < bins; k++) {
        const [r, g, b] = heat((values[c * bins + k] - (top - 90)) / 90); // 90 dB of range
        image.data.set([r, g, b, 255], ((bins - 1 - k) * columns + c) * 4);
      }
    }
    this.spectrumImage.getContext("2d").putImageData(image, 0, 0);
    this.spectrumHop = hop;
  }

  buildControls() {
    const rate = el("select", {}, [el("option", { value: this.rate }, [`${this.rate} Hz (stored)`]),
      ...PLAYBACK_RATES.filter((r) => r !== this.rate).map((r) => el("option", { value: r }, [`${r} Hz`]))]);
    const play = (whole) => this.play(+rate.value, whole ? [this.lo, this.hi] : this.view);
    this.viewLabel = el("div");
    this.controls.append(el("h3", {}, ["audio"]), this.viewLabel,
      el("label", {}, ["decode and play at ", rate]),
      el("div", {}, [el("button", { onclick: () => play(true) }, ["play all"]), " ",
        el("button", { onclick: () => play(false) }, ["play view"]), " ",
        el("button", { onclick: () => { this.view = [this.lo, this.hi]; this.render(); } }, ["fit"])]));
  }

  /** Decode [from, to) at `rate` Hz and play it: the network is sampled at that rate, not resampled. */
  play(rate, [from, to]) {
    const n = Math.max(1, Math.round(((to - from) * rate) / this.rate));
    const values = this.decode(from, to, n);
    const context = new AudioContext();
    const buffer = context.createBuffer(this.channels, n, rate);
    for (let c = 0; c < this.channels; c++) {
      const channel = buffer.getChannelData(c);
      for (let i = 0; i < n; i++) channel[i] = values[i * this.channels + c];
    }
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    source.start();
    this.status.textContent = `playing ${((to - from) / this.rate).toFixed(2)} s decoded at ${rate} Hz (${n} samples)`;
  }

  attachPointer(target) {
    let drag = null;
    target.addEventListener("wheel", (e) => {
      e.preventDefault();
      const at = this.positionAt(e.offsetX, target);
      const factor = Math.exp(e.deltaY * 0.002);
      const span = Math.max(4 / target.width, (this.view[1] - this.view[0]) * factor);
      const share = (at - this.view[0]) / (this.view[1] - this.view[0]);
      this.view = [at - share * span, at + (1 - share) * span];
      this.render();
    }, { passive: false });
    target.addEventListener("pointerdown", (e) => { target.setPointerCapture(e.pointerId); drag = { x: e.offsetX, view: [...this.view] }; });
    target.addEventListener("pointermove", (e) => {
      this.hover.replaceChildren(el("h3", {}, ["under the pointer"]),
        el("div", {}, [`${(this.positionAt(e.offsetX, target) / this.rate).toFixed(5)} s`]));
      if (!drag) return;
      const shift = ((e.offsetX - drag.x) / target.width) * (drag.view[1] - drag.view[0]);
      this.view = [drag.view[0] - shift, drag.view[1] - shift];
      this.render();
    });
    target.addEventListener("pointerup", () => { drag = null; });
  }

  positionAt(x, canvas) {
    return this.view[0] + (x / canvas.width) * (this.view[1] - this.view[0]);
  }

  render() {
    for (const canvas of [this.wave, this.spectrum]) {
      canvas.width = canvas.clientWidth || 800;
      canvas.height = canvas.clientHeight || 200;
    }
    this.drawWave();
    this.drawSpectrum();
    const [a, b] = this.view;
    this.viewLabel.textContent = `${(a / this.rate).toFixed(4)}–${(b / this.rate).toFixed(4)} s, ` +
      `${((b - a) / this.wave.width).toPrecision(3)} samples per pixel`;
  }

  drawWave() {
    const { width, height } = this.wave, g = this.wave.getContext("2d");
    g.fillStyle = "#0e1013";
    g.fillRect(0, 0, width, height);
    const [from, to] = this.view, perPixel = (to - from) / width, C = this.channels, band = height / C;
    g.strokeStyle = "#6fb1ff";
    if (perPixel >= 1) { // the envelope of the stored-rate decode
      for (let c = 0; c < C; c++) {
        g.beginPath();
        for (let x = 0; x < width; x++) {
          const i0 = Math.max(0, Math.floor(from + x * perPixel) - this.lo), i1 = Math.min(this.hi - this.lo, Math.ceil(from + (x + 1) * perPixel) - this.lo);
          let low = Infinity, high = -Infinity;
          for (let i = i0; i < i1; i++) { const v = this.samples[i * C + c]; low = Math.min(low, v); high = Math.max(high, v); }
          if (low > high) continue;
          g.moveTo(x + 0.5, band * (c + 0.5 - high / 2)); g.lineTo(x + 0.5, band * (c + 0.5 - low / 2) + 1);
        }
        g.stroke();
      }
    } else { // zoomed past the samples: the network at every pixel
      const values = this.decode(from, to, width);
      for (let c = 0; c < C; c++) {
        g.beginPath();
        for (let x = 0; x < width; x++) g.lineTo(x + 0.5, band * (c + 0.5 - values[x * C + c] / 2));
        g.stroke();
      }
      g.fillStyle = "#ffcc00";
      for (let s = Math.ceil(from - 0.5); s + 0.5 < to; s++) {  // the stored samples' centres
        if (s < this.lo || s >= this.hi) continue;
        const x = ((s + 0.5 - from) / (to - from)) * width;
        for (let c = 0; c < C; c++) g.fillRect(x - 1.5, band * (c + 0.5 - this.samples[(s - this.lo) * C + c] / 2) - 1.5, 3, 3);
      }
    }
  }

  drawSpectrum() {
    const { width, height } = this.spectrum, g = this.spectrum.getContext("2d");
    g.fillStyle = "#000";
    g.fillRect(0, 0, width, height);
    const [from, to] = this.view, hop = this.spectrumHop;
    // column c is the window of samples [c·hop, c·hop + FFT_SIZE): its centre is at c·hop + FFT_SIZE/2
    const column = (u) => (u - this.lo - FFT_SIZE / 2) / hop + 0.5;
    const c0 = column(from), c1 = column(to);
    g.imageSmoothingEnabled = false;
    g.drawImage(this.spectrumImage, c0, 0, c1 - c0, this.spectrumImage.height, 0, 0, width, height);
    g.fillStyle = "#fff";
    g.fillText(`0–${this.rate / 2} Hz`, 6, 12);
  }
}
