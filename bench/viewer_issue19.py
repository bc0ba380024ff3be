"""Issue 19: the browser viewer's frame rate, and screenshots of every kind for docs/img/.

    .venv/bin/python bench/viewer_issue19.py [--out bench/viewer] [--steps 300]

Encodes the bundled samples (chelsea.png, chime.wav, realshort.mp4, spot.obj) with default
flags and a fixed step count, serves them with `inr view`, drives the page in headless Chromium
(Debian's chromium, SwiftShader's software WebGL2 here), and reports:

  * full redraws per second at 1024×1024 and 512×512 on the WebGL2 path (each frame finished,
    fenced by reading a pixel back, before the next), median of 3 runs;
  * the same view on the JavaScript CPU path at 256×256 (per-pixel cost; it scales with pixels);
  * screenshots of the image (with the grid, a crop selection and the original side by side), a 64×
    zoom into a partition, the audio view, a video frame and the shape's surface.

Run it alone on the machine: two processes on two cores slow each other down several times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--enable-unsafe-swiftshader"]


def encode(source: Path, out: Path, steps: int) -> Path:
    subprocess.run([sys.executable, "-m", "inrcli", "encode", str(source), "-o", str(out), "--steps", str(steps),
                    "-q", "-f"], check=True)
    return out


def macs_per_pixel(path: Path) -> int:
    """Multiply-adds of one evaluation of a Local-Global SIREN (one partition, no blending)."""
    from inrcli import fileformat

    c = fileformat.load(path).model.config.to_dict()
    d, w, g, L, C = c["in_dim"], c["local_width"], c["global_width"], c["hidden_layers"], c["out_dim"]
    return d * w + L * w * w + w * C + d * g + L * g * g + (L + 1) * (w + g) * w


def wait_ready(page) -> None:
    page.wait_for_function("window.inrViewer && (window.inrViewer.ready || window.inrViewer.error)",
                           polling=200, timeout=600_000)
    error = page.evaluate("window.inrViewer.error || null")
    if error:
        raise RuntimeError(error)


def wait_drawn(page, timeout_s: float = 600) -> None:
    """Until the tiled drawing of the current view has finished (the status line says so)."""
    deadline = time.time() + timeout_s
    while "drawn in" not in page.evaluate("document.getElementById('status').textContent") and time.time() < deadline:
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "viewer")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--screenshots-only", action="store_true", help="skip the frame-rate runs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.images.mkdir(parents=True, exist_ok=True)
    files = [encode(SAMPLES / "chelsea.png", args.out / "chelsea.safetensors", args.steps),
             encode(SAMPLES / "chime.wav", args.out / "chime.safetensors", args.steps),
             encode(SAMPLES / "realshort.mp4", args.out / "realshort.safetensors", args.steps // 3),
             encode(SAMPLES / "spot.obj", args.out / "spot.safetensors", args.steps)]
    proc = subprocess.Popen([sys.executable, "-m", "inrcli", "view", *map(str, files), "--original",
                             str(SAMPLES / "chelsea.png"), "--no-browser"], stdout=subprocess.PIPE, text=True)
    from playwright.sync_api import sync_playwright

    results = {"macs_per_pixel": macs_per_pixel(files[0])}
    results["gflop_per_frame_1024"] = 2 * results["macs_per_pixel"] * 1024 ** 2 / 1e9
    try:
        url = proc.stdout.readline().strip()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 800}, bypass_csp=True)
            page.goto(url + "?file=0")
            wait_ready(page)
            results["renderer"] = page.evaluate("""() => { const gl = document.createElement('canvas').getContext('webgl2');
                const d = gl.getExtension('WEBGL_debug_renderer_info'); return gl.getParameter(d ? d.UNMASKED_RENDERER_WEBGL : gl.RENDERER); }""")
            for size in () if args.screenshots_only else (512, 1024):
                runs = [page.evaluate(f"window.inrViewer.benchmark({size}, 2)") for _ in range(3)]
                results[f"webgl2_fps_{size}"] = statistics.median(runs)
                results[f"webgl2_fps_{size}_runs"] = runs
            if not args.screenshots_only:
                page.goto(url + "?file=0&cpu=1")
                wait_ready(page)
                runs = [page.evaluate("window.inrViewer.benchmark(256, 1)") for _ in range(3)]
                results["javascript_fps_256"] = statistics.median(runs)
                results["javascript_fps_256_runs"] = runs
            # screenshots, on the GPU path
            page.goto(url + "?file=0")
            wait_ready(page)
            wait_drawn(page)
            page.mouse.move(500, 300)
            page.click("text=crop")
            page.mouse.move(300, 250)
            page.mouse.down()
            page.mouse.move(520, 420, steps=5)
            page.mouse.up()
            page.screenshot(path=str(args.images / "view_image.png"))
            page.evaluate("window.inrViewer.setView([100, 200], [104, 204], [512, 512])")  # 128× zoom
            page.screenshot(path=str(args.images / "view_image_zoom128.png"))
            for index, name in ((1, "audio"), (2, "video"), (3, "shape")):
                page.goto(f"{url}?file={index}")
                wait_ready(page)
                if name == "video":
                    wait_drawn(page)
                page.screenshot(path=str(args.images / f"view_{name}.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(results, indent=1))
    if not args.screenshots_only:
        (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
