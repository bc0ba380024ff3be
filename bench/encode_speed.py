"""Encoding speed and quality on this machine (issue 5): the default encoder against two
baselines re-implemented from the papers, under wall-clock budgets, plus cost scaling.

    python bench/encode_speed.py                      # the full run (about 2.5 hours)
    python bench/encode_speed.py --budgets 5 --signals astronaut --no-scaling   # a smoke run

Every figure is what ``inr eval`` reports on the full decode.  Each encode runs as its own
``inr`` process; its peak memory is that process's maximum resident set size (os.wait4).
Results go to bench/speed/ (JSON lines, plots) and replace the section between the
``encode_speed`` markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "speed"
INR = [sys.executable, "-m", "inrcli"]
IMAGES = ["astronaut", "camera"] + [f"kodim0{i}" for i in range(1, 9)]
SIGNALS = {name: DATA / "images" / f"{name}.png" for name in IMAGES} | {"gt_bach": DATA / "audio" / "gt_bach.wav"}

# Flags per method.  The baselines follow the papers' recipes at ~200k parameters.
METHODS = {
    "default": {"image": [], "audio": []},
    # SIREN: 3 hidden layers × 256, Adam 1e-4 (constant), random batches of 2^14 samples
    "siren": {"image": ["--arch", "siren", "--params", "200000", "--lr", "1e-4", "--constant-lr",
                        "--sample-fraction", str(2 ** 14 / 512 ** 2)],
              "audio": ["--arch", "siren", "--params", "200000", "--lr", "1e-4", "--constant-lr",
                        "--sample-fraction", str(2 ** 14 / 308_207)]},
    # Local-Global SIREN as published: 16×16 partitions, local width 14, global width 84,
    # Adam 5e-4 (constant), full batches; audio: global width 32, lr 1e-4, full batches
    "lg-published": {"image": ["--partitions", "16,16", "--global-width", "84", "--params", "207000",
                               "--lr", "5e-4", "--constant-lr", "--sample-fraction", "1"],
                     "audio": ["--partitions", "32", "--global-width", "32", "--params", "200000",
                               "--lr", "1e-4", "--constant-lr", "--sample-fraction", "1"]},
}


def run(command: list[str]) -> tuple[str, int, float]:
    """Run a command; returns its stdout, peak RSS in kB and wall seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    stdout = process.stdout.read().decode()
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {stderr.strip()[-500:]}")
    return stdout, usage.ru_maxrss, time.perf_counter() - started


def encode_and_score(signal: str, method: str, budget: float) -> dict:
    source = SIGNALS[signal]
    kind = "audio" if source.suffix == ".wav" else "image"
    model = OUT / "models" / f"{signal}_{method}_{budget:g}s.safetensors"
    flags = METHODS[method][kind]
    stdout, rss, _ = run(INR + ["encode", str(source), "-o", str(model), "--seconds", str(budget), "--force",
                                "--quiet", "--json"] + flags)
    summary = json.loads(stdout)
    scores = json.loads(run(INR + ["eval", str(source), str(model), "--json"])[0])
    return {"signal": signal, "method": method, "budget": budget, "params": summary["params"],
            "steps": summary["steps"], "psnr": scores["psnr"], "peak_rss_mb": round(rss / 1024, 1),
            "flags": " ".join(flags)}


def scaling(sizes: list[int]) -> list[dict]:
    """Seconds per step and decode throughput at a fixed budget, for square crops of astronaut
    resized to each size; then a 512² model decoded to 8192²."""
    import imageio.v3 as iio
    from PIL import Image

    rows = []
    base = Image.open(SIGNALS["astronaut"])
    for size in sizes:
        path = OUT / "models" / f"astronaut_{size}.png"
        iio.imwrite(path, base.resize((size, size), Image.BICUBIC))
        model = path.with_suffix(".safetensors")
        stdout, rss, _ = run(INR + ["encode", str(path), "-o", str(model), "--steps", "60", "--params", "200000",
                                    "--force", "--quiet", "--json"])
        summary = json.loads(stdout)
        stdout, decode_rss, _ = run(INR + ["decode", str(model), "-o", str(path.with_suffix(".out.png")),
                                           "--force", "--quiet", "--json"])
        decode_seconds = json.loads(stdout)["seconds"]  # decode and write, without process start-up
        rows.append({"size": size, "params": summary["params"], "seconds_per_step": round(summary["seconds"] / 60, 4),
                     "decode_megapixels_per_s": round(size * size / 1e6 / decode_seconds, 3),
                     "encode_peak_rss_mb": round(rss / 1024, 1), "decode_peak_rss_mb": round(decode_rss / 1024, 1)})
    model = OUT / "models" / "astronaut_512.safetensors"
    if 512 not in sizes:
        return rows
    stdout, rss, _ = run(INR + ["decode", str(model), "--size", "8192x8192", "-o",
                                str(OUT / "models" / "astronaut_8192.png"), "--force", "--quiet", "--json"])
    seconds = json.loads(stdout)["seconds"]
    rows.append({"size": "512² model → 8192²", "decode_seconds": round(seconds, 1), "decode_peak_rss_mb": round(rss / 1024, 1)})
    return rows


def plot(results: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    for signal in dict.fromkeys(r["signal"] for r in results):
        figure, axes = plt.subplots(figsize=(5, 3.5), dpi=100)
        for method in METHODS:
            points = sorted((r["budget"], r["psnr"]) for r in results if r["signal"] == signal and r["method"] == method)
            if points:
                axes.plot(*zip(*points), marker="o", label=method)
        axes.set(xscale="log", xlabel="encode budget (s)", ylabel="PSNR (dB)", title=signal)
        axes.grid(alpha=0.3)
        axes.legend()
        name = f"psnr_{signal}.png"
        figure.savefig(OUT / name, bbox_inches="tight")
        plt.close(figure)
        names.append(name)
    return names


def markdown(results: list[dict], scale: list[dict], plots: list[str], command: str) -> str:
    lines = ["<!-- encode_speed:begin -->", "## Encoding speed and quality (issue 5)", "",
             f"Command: `{command}` — machine: {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}. One run per row.", "",
             "| signal | budget (s) | method | params | steps | PSNR (dB) | peak RSS (MB) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['signal']} | {r['budget']:g} | {r['method']} | {r['params']:,} | {r['steps']} | "
                     f"{r['psnr']:.2f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Flags: " + "; ".join(f"**{m}**: `{' '.join(f['image']) or '(none)'}`" for m, f in METHODS.items()), ""]
    lines += [f"![{p}](speed/{p})" for p in plots]
    if scale:
        lines += ["", "| size | params | s/step | decode MP/s | encode RSS (MB) | decode RSS (MB) |", "|---|---|---|---|---|---|"]
        for r in scale:
            lines.append(f"| {r['size']} | {r.get('params', '')} | {r.get('seconds_per_step', '')} | "
                         f"{r.get('decode_megapixels_per_s', r.get('decode_seconds', ''))} | "
                         f"{r.get('encode_peak_rss_mb', '')} | {r.get('decode_peak_rss_mb', '')} |")
    lines.append("<!-- encode_speed:end -->")
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text()
    begin, end = "<!-- encode_speed:begin -->", "<!-- encode_speed:end -->"
    if begin in current:
        current = current[:current.index(begin)] + text + current[current.index(end) + len(end):]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=float, nargs="+", default=[15, 60, 180])
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS), choices=list(SIGNALS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    args = parser.parse_args()
    (OUT / "models").mkdir(parents=True, exist_ok=True)
    results = []
    with open(OUT / "results.jsonl", "w") as log:
        for signal in args.signals:
            for budget in args.budgets:
                for method in args.methods:
                    row = encode_and_score(signal, method, budget)
                    results.append(row)
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    print(json.dumps(row), flush=True)
    scale = [] if args.no_scaling else scaling(args.sizes)
    command = "python bench/encode_speed.py " + " ".join(sys.argv[1:])
    write_section(markdown(results, scale, plot(results), command.strip()))


if __name__ == "__main__":
    main()
