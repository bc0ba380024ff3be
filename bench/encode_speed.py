"""Encoding speed and quality on this machine (issue 5): the default encoder against two
baselines re-implemented from the papers, under wall-clock budgets, plus cost scaling.

    python bench/encode_speed.py                      # the full run (about 2 h 10 min)
    python bench/encode_speed.py --budgets 5 --signals astronaut --no-scaling   # a smoke run

Every figure is what ``inr eval`` reports on the full decode.  Each encode runs as its own
``inr`` process; its peak memory is that process's maximum resident set size (os.wait4).
Results go to bench/speed/ (JSON lines, plots) and replace the section between the
``encode_speed`` markers in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from results_section import write_section  # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "speed"
INR = [sys.executable, "-m", "inrcli"]
IMAGES = ["astronaut", "camera"] + [f"kodim0{i}" for i in range(1, 9)]
SIGNALS = {name: DATA / "images" / f"{name}.png" for name in IMAGES} | {"gt_bach": DATA / "audio" / "gt_bach.wav"}

# Flags per method.  The baselines follow the papers' recipes; SIREN gets the default's
# parameter count for each signal ("at the same parameter count").
BASELINES = {
    # SIREN: 3 hidden layers (width set by the budget), Adam 1e-4 (constant), random batches of 2^14
    "siren": {"image": ["--arch", "siren", "--lr", "1e-4", "--constant-lr"],
              "audio": ["--arch", "siren", "--lr", "1e-4", "--constant-lr"]},
    # Local-Global SIREN as published: 16×16 partitions, local width 14, global width 84,
    # Adam 5e-4 (constant), full batches, SIREN's initialisation; audio: 32 partitions, global
    # width 32, lr 1e-4 (its first-layer ω0 is the audio kind's: 1500 per 7 s)
    "lg-published": {"image": ["--partitions", "16,16", "--global-width", "84", "--params", "207000",
                               "--lr", "5e-4", "--constant-lr", "--sample-fraction", "1", "--local-frequency", "siren"],
                     "audio": ["--partitions", "32", "--global-width", "32", "--params", "200000",
                               "--lr", "1e-4", "--constant-lr", "--sample-fraction", "1", "--local-frequency", "siren"]},
}
METHODS = ["default", *BASELINES]
SIREN_BATCH = 2 ** 14
SCALING_STEPS = 40


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


def kind_of(signal: str) -> str:
    return "audio" if SIGNALS[signal].suffix == ".wav" else "image"


def eval_psnr(signal: str, model: Path) -> float:
    return json.loads(run(INR + ["eval", str(SIGNALS[signal]), str(model), "--json"])[0])["psnr"]


def encode_default(signal: str, budget: float) -> dict:
    """``inr encode --seconds BUDGET`` with default flags: its cosine schedule is fitted to the budget."""
    model = OUT / "models" / f"{signal}_default_{budget:g}s.safetensors"
    stdout, rss, _ = run(INR + ["encode", str(SIGNALS[signal]), "-o", str(model), "--seconds", str(budget),
                                "--force", "--quiet", "--json"])
    summary = json.loads(stdout)
    return {"signal": signal, "method": "default", "budget": budget, "params": summary["params"],
            "steps": summary["steps"], "psnr": eval_psnr(signal, model), "peak_rss_mb": round(rss / 1024, 1),
            "flags": ""}


def baseline_flags(signal: str, method: str, params: int) -> list[str]:
    flags = list(BASELINES[method][kind_of(signal)])
    if method == "siren":
        import soundfile
        from PIL import Image

        source = SIGNALS[signal]
        samples = soundfile.info(source).frames if kind_of(signal) == "audio" else math.prod(Image.open(source).size)
        flags += ["--params", str(params), "--sample-fraction", f"{SIREN_BATCH / samples:.8f}"]
    return flags


def encode_baseline(signal: str, method: str, budgets: list[float], params: int) -> list[dict]:
    """One run of a constant-learning-rate baseline for the longest budget, saved as it passes
    each shorter one.  With a constant rate the first 15 s of a 180 s run *are* a 15 s run, so
    one run serves every budget (a snapshot costs a copy of the weights, under a millisecond)."""
    flags = baseline_flags(signal, method, params)
    stem = OUT / "models" / f"{signal}_{method}"
    stdout, rss, _ = run([sys.executable, str(Path(__file__).resolve()), "--snapshot-run", signal, str(stem),
                          ",".join(f"{b:g}" for b in budgets), *flags])
    rows = []
    for line in stdout.splitlines():
        snap = json.loads(line)
        rows.append({"signal": signal, "method": method, "budget": snap["budget"], "params": snap["params"],
                     "steps": snap["steps"], "psnr": eval_psnr(signal, Path(snap["model"])),
                     "peak_rss_mb": round(rss / 1024, 1), "flags": " ".join(flags)})
    return rows


def snapshot_run(signal: str, stem: str, budgets: list[float], flags: list[str]) -> None:
    """Train once for the longest budget; save the model as training time passes each budget."""
    import copy

    from inrcli import api, fileformat
    from inrcli.signals import read_signal

    options = api.EncodeOptions(seconds=max(budgets), **parse_flags(flags))
    snapshots: dict[float, tuple[int, dict]] = {}
    built: list = []
    original_build = api.build_model

    def build_and_remember(*args, **kwargs):
        built.append(original_build(*args, **kwargs))
        return built[-1]

    def on_step(info) -> None:
        for budget in budgets:
            if budget not in snapshots and info.elapsed >= budget:
                snapshots[budget] = (info.step, copy.deepcopy(built[-1].state_dict()))

    api.build_model = build_and_remember  # the callback needs the model being trained
    inr = api.encode(read_signal(str(SIGNALS[signal])), options, on_step=on_step)
    snapshots[max(budgets)] = (inr.training["steps"], copy.deepcopy(inr.model.state_dict()))
    for budget, (steps, state) in sorted(snapshots.items()):
        inr.model.load_state_dict(state)
        path = Path(f"{stem}_{budget:g}s.safetensors")
        fileformat.save(inr, path)
        print(json.dumps({"budget": budget, "steps": steps, "params": inr.model.param_count()["total"],
                          "model": str(path)}), flush=True)


ARCHITECTURE_FLAGS = {"partitions": lambda text: tuple(int(v) for v in text.split(",")), "global_width": int,
                      "local_frequency": str}
"""The baselines' architecture flags: EncodeOptions.model_options entries, as the CLI parses them."""


def parse_flags(flags: list[str]) -> dict:
    """The ``inr encode`` flags the baselines use, as EncodeOptions fields."""
    options, index = {}, 0
    while index < len(flags):
        name = flags[index].lstrip("-").replace("-", "_")
        if name == "constant_lr":
            options[name], index = True, index + 1
            continue
        value = flags[index + 1]
        if name in ARCHITECTURE_FLAGS:
            options.setdefault("model_options", {})[name] = ARCHITECTURE_FLAGS[name](value)
        else:
            options[name] = value if name == "arch" else float(value) if name in ("lr", "sample_fraction") else int(value)
        index += 2
    return options


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
        stdout, rss, _ = run(INR + ["encode", str(path), "-o", str(model), "--steps", str(SCALING_STEPS),
                                    "--params", "200000", "--force", "--quiet", "--json"])
        summary = json.loads(stdout)
        batch = json.loads(run(INR + ["info", str(model), "--json"])[0])["training"]["batch_points"]
        per_step = summary["seconds"] / SCALING_STEPS
        stdout, decode_rss, _ = run(INR + ["decode", str(model), "-o", str(path.with_suffix(".out.png")),
                                           "--force", "--quiet", "--json"])
        decode_seconds = json.loads(stdout)["seconds"]  # decode and write, without process start-up
        rows.append({"size": size, "params": summary["params"], "seconds_per_step": round(per_step, 4),
                     "batch_points": batch, "us_per_sample": round(1e6 * per_step / batch, 3),
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
    import matplotlib.ticker

    names = []
    for signal in dict.fromkeys(r["signal"] for r in results):
        figure, axes = plt.subplots(figsize=(5, 3.5), dpi=100)
        for method in METHODS:
            points = sorted((r["budget"], r["psnr"]) for r in results if r["signal"] == signal and r["method"] == method)
            if points:
                axes.plot(*zip(*points), marker="o", label=method)
        axes.set(xscale="log", xlabel="encode budget (s)", ylabel="PSNR (dB)", title=signal)
        budgets = sorted({r["budget"] for r in results if r["signal"] == signal})
        axes.set_xticks(budgets, [f"{b:g}" for b in budgets], minor=False)
        axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axes.grid(alpha=0.3)
        axes.legend()
        name = f"psnr_{signal}.png"
        figure.savefig(OUT / name, bbox_inches="tight")
        plt.close(figure)
        names.append(name)
    return names


def markdown(results: list[dict], scale: list[dict], plots: list[str], command: str) -> str:
    lines = ["<!-- encode_speed:begin -->", "## Encoding speed and quality (issue 5)", "",
             f"Command: `{command}` — machine: {cpu_name()}, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}, torch {torch_version()}. One run per row.", "",
             "| signal | budget (s) | method | params | steps | PSNR (dB) | peak RSS (MB) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['signal']} | {r['budget']:g} | {r['method']} | {r['params']:,} | {r['steps']} | "
                     f"{r['psnr']:.2f} | {r['peak_rss_mb']:.0f} |")
    flags = {r["method"]: r["flags"] for r in results if r["signal"] == "astronaut"}
    lines += ["", "Flags on astronaut: " + "; ".join(f"**{m}**: `{f or '(none)'}`" for m, f in flags.items()), ""]
    lines += summary_lines(results)
    lines += [f"![{p}](speed/{p})" for p in plots]
    if not scale:
        lines += ["", "Cost scaling was not part of this run; the last scaling rows are in bench/speed/scaling.jsonl."]
    if scale:
        lines += ["", f"Cost scaling ({SCALING_STEPS} steps at --params 200000; astronaut resized):", "",
                  "| size | params | samples/step | s/step | µs/sample | decode MP/s (or s) | encode RSS (MB) | decode RSS (MB) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in scale:
            lines.append(f"| {r['size']} | {r.get('params', '')} | {r.get('batch_points', '')} | "
                         f"{r.get('seconds_per_step', '')} | {r.get('us_per_sample', '')} | "
                         f"{r.get('decode_megapixels_per_s', r.get('decode_seconds', ''))} | "
                         f"{r.get('encode_peak_rss_mb', '')} | {r.get('decode_peak_rss_mb', '')} |")
    lines.append("<!-- encode_speed:end -->")
    return "\n".join(lines)


def cpu_name() -> str:
    """The processor's model name (hosts change between runs), else the architecture."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_version() -> str:
    from importlib.metadata import version

    return version("torch")


def summary_lines(results: list[dict]) -> list[str]:
    """The issue's targets, computed from the rows above."""
    def psnr(signal, method, budget):
        return next((r["psnr"] for r in results if (r["signal"], r["method"], r["budget"]) == (signal, method, budget)), None)

    lines = ["Targets (computed from the rows above):", ""]
    budgets = sorted({r["budget"] for r in results})
    for signal, budget, goal in (("astronaut", 60, 36), ("astronaut", 15, 30), ("gt_bach", 60, 45)):
        value = psnr(signal, "default", budget)
        if value is not None:
            lines.append(f"- {signal} @ {budget} s: {value:.2f} dB (target ≥ {goal}: {'met' if value >= goal else 'NOT met'})")
    kodak = [f"kodim0{i}" for i in range(1, 9)]
    for budget in budgets:
        ours = [psnr(k, "default", budget) for k in kodak]
        siren = [psnr(k, "siren", budget) for k in kodak]
        if None not in ours and None not in siren:
            mean, gap = sum(ours) / 8, (sum(ours) - sum(siren)) / 8
            lines.append(f"- Kodak 01–08 @ {budget:g} s: mean {mean:.2f} dB, {gap:+.2f} dB over SIREN at the same "
                         f"parameter count" + (" (targets @ 60 s: ≥ 31 dB and ≥ +6 dB)" if budget == 60 else ""))
    losses = [f"{r['signal']} @ {r['budget']:g} s vs {r['method']}" for r in results if r["method"] != "default"
              and (psnr(r["signal"], "default", r["budget"]) or -1) <= r["psnr"]]
    lines.append("- default beats both baselines everywhere: " + ("yes" if not losses else "no — " + ", ".join(losses)))
    for signal in dict.fromkeys(r["signal"] for r in results):
        counts = [r["params"] for r in results if r["signal"] == signal]
        if max(counts) > 1.05 * min(counts):
            lines.append(f"- {signal}: parameter counts differ by more than 5% "
                         f"({min(counts):,}–{max(counts):,}); see the params column")
    return lines + [""]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--snapshot-run":  # internal: one baseline process
        signal, stem, budgets, *flags = sys.argv[2:]
        snapshot_run(signal, stem, [float(b) for b in budgets.split(",")], flags)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=float, nargs="+", default=[15, 60, 180])
    parser.add_argument("--signals", nargs="+", default=list(SIGNALS), choices=list(SIGNALS))
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from bench/speed/*.jsonl")
    args = parser.parse_args()
    (OUT / "models").mkdir(parents=True, exist_ok=True)
    command = "python bench/encode_speed.py " + " ".join(a for a in sys.argv[1:] if a != "--report-only")
    if args.report_only:
        results = [json.loads(line) for line in open(OUT / "results.jsonl")]
        scale = [json.loads(line) for line in open(OUT / "scaling.jsonl")] if (OUT / "scaling.jsonl").exists() else []
        write_section("encode_speed", markdown(results, scale, plot(results), command.strip()))
        return
    results = []
    with open(OUT / "results.jsonl", "w") as log:
        for signal in args.signals:
            rows = [encode_default(signal, budget) for budget in args.budgets] if "default" in args.methods else []
            params = rows[0]["params"] if rows else 200_000
            for method in (m for m in args.methods if m != "default"):
                rows += encode_baseline(signal, method, args.budgets, params)
            for row in rows:
                log.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
            log.flush()
            results += rows
    scale = [] if args.no_scaling else scaling(args.sizes)
    if scale:  # a run without scaling leaves the last scaling rows where they are
        with open(OUT / "scaling.jsonl", "w") as log:
            log.writelines(json.dumps(row) + "\n" for row in scale)
    write_section("encode_speed", markdown(results, scale, plot(results), command.strip()))


if __name__ == "__main__":
    main()
