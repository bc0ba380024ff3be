"""Load test (issue 6): many small files in a row, several ``inr`` processes at once.

    python bench/load_test.py                 # 200 files in a row, 4 parallel workers (about 17 minutes)
    python bench/load_test.py --files 20      # a quick run

1. A loop runs ``inr encode`` then ``inr decode`` on each of N small images, one process at
   a time, and records every process's exit code and peak RSS.
2. Four workers run the same loop at once over shares of the first 40 files, all writing into one
   directory; then four processes race to create the *same* output without ``--force``
   (exactly one may win; the others must fail cleanly and leave the winner's file intact).
3. One Python process encodes and decodes the N files through the library, recording its
   resident memory after each, to show that nothing accumulates from one file to the next.

Results go to bench/runs/load/ and replace the ``load_test`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from results_section import write_section  # bench/ is on the path when run as a script

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images"
WORK = ROOT / "bench" / "runs" / "load"
INR = [sys.executable, "-m", "inrcli"]
ENCODE_FLAGS = ["--steps", "40", "--params", "4000", "-q"]


def make_inputs(count: int, folder: Path) -> list[Path]:
    """``count`` 48×64 RGB crops of the Kodak photos (random noise where the data is absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [iio.imread(p)[..., :3] for p in sorted(DATA.glob("kodim0*.png"))] if DATA.is_dir() else []
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        if photos:
            photo = photos[index % len(photos)]
            y, x = rng.integers(0, photo.shape[0] - 48), rng.integers(0, photo.shape[1] - 64)
            image = photo[y:y + 48, x:x + 64]
        else:
            image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        paths.append(folder / f"img{index:03d}.png")
        iio.imwrite(paths[-1], image)
    return paths


def run(command: list[str]) -> dict:
    """Run one ``inr`` process: exit code, peak RSS (MB), seconds and the last stderr line."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    return {"code": os.waitstatus_to_exitcode(status), "rss_mb": usage.ru_maxrss / 1024,
            "seconds": time.perf_counter() - started, "stderr": stderr.strip().splitlines()[-1:] or [""]}


def round_trip(source: Path, out: Path) -> list[dict]:
    """Encode ``source`` into ``out`` and decode it back beside it; checks the decoded picture."""
    model, picture = out / f"{source.stem}.safetensors", out / f"{source.stem}.out.png"
    results = [run(INR + ["encode", str(source), "-o", str(model), *ENCODE_FLAGS])]
    if results[0]["code"] == 0:
        results.append(run(INR + ["decode", str(model), "-o", str(picture), "-q"]))
        if results[-1]["code"] == 0 and iio.imread(picture).shape != iio.imread(source).shape:
            results[-1]["code"] = -1
            results[-1]["stderr"] = ["decoded picture has the wrong shape"]
    return results


def sequential(inputs: list[Path]) -> list[dict]:
    out = WORK / "sequential"
    out.mkdir()
    return [r for source in inputs for r in round_trip(source, out)]


def parallel(inputs: list[Path], workers: int) -> tuple[list[dict], float]:
    out = WORK / "parallel"
    out.mkdir()
    shares = [inputs[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        done = pool.map(lambda share: [r for source in share for r in round_trip(source, out)], shares)
        results = [r for share in done for r in share]
    return results, time.perf_counter() - started


def race(source: Path, workers: int, rounds: int) -> list[str]:
    """``workers`` processes encode to one target at once without --force; returns the problems."""
    problems = []
    for round_index in range(rounds):
        target = WORK / f"race{round_index}.safetensors"
        command = INR + ["encode", str(source), "-o", str(target), "--seed", "0", *ENCODE_FLAGS]
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda _: run(command), range(workers)))
        winners = [r for r in results if r["code"] == 0]
        losers = [r for r in results if r["code"] != 0]
        if len(winners) != 1 or any("exists" not in r["stderr"][0] for r in losers):
            problems.append(f"round {round_index}: {[(r['code'], r['stderr'][0]) for r in results]}")
        if run(INR + ["info", str(target)])["code"] != 0:
            problems.append(f"round {round_index}: the surviving file does not load")
        leftovers = [p.name for p in WORK.iterdir() if p.name.startswith(".inr-tmp-")]
        if leftovers:
            problems.append(f"round {round_index}: temporary files left: {leftovers}")
    return problems


def in_process(inputs: list[Path]) -> list[float]:
    """Resident memory (MB) after each file, encoding and decoding in one Python process."""
    sys.path.insert(0, str(ROOT))
    from inrcli import api, fileformat
    from inrcli.signals import read_signal, write_signal

    out = WORK / "in_process"
    out.mkdir()
    page = os.sysconf("SC_PAGE_SIZE")
    resident = []
    for source in inputs:
        signal = read_signal(str(source))
        inr = api.encode(signal, api.EncodeOptions(steps=40, params=4000))
        fileformat.save(inr, out / "model.safetensors")
        decoded = api.decode(fileformat.load(out / "model.safetensors"))
        write_signal(decoded, out / "decoded.png", "png", {})
        with open("/proc/self/statm") as statm:
            resident.append(int(statm.read().split()[1]) * page / 2**20)
    return resident


def report(args, seq: list[dict], par: list[dict], par_seconds: float, problems: list[str],
           resident: list[float]) -> str:
    def summary(results: list[dict]) -> str:
        failed = [r for r in results if r["code"] != 0]
        rss = sorted(r["rss_mb"] for r in results)
        return (f"{len(results)} processes, {len(failed)} failed, peak RSS median {rss[len(rss) // 2]:.0f} MB, "
                f"max {rss[-1]:.0f} MB, first {results[0]['rss_mb']:.0f} MB, last {results[-1]['rss_mb']:.0f} MB")

    lines = ["<!-- load_test:begin -->", "## Load test (issue 6)", "",
             f"Command: `python bench/load_test.py --files {args.files} --workers {args.workers} "
             f"--parallel-files {args.parallel_files}` — machine: "
             f"{platform.machine()}, {os.cpu_count()} CPUs.  Inputs: {args.files} 48×64 RGB crops of Kodak; "
             f"encode flags `{' '.join(ENCODE_FLAGS)}`.", "",
             f"- Sequential loop (encode then decode, one process at a time): {summary(seq)}; "
             f"{sum(r['seconds'] for r in seq):.0f} s in all.",
             f"- {args.workers} workers at once in one directory, {args.parallel_files} files: {summary(par)}; "
             f"{par_seconds:.0f} s wall.",
             f"- Race: {args.workers} processes × {args.rounds} rounds encoding to one target without --force: "
             + ("exactly one winner per round, the others failed with 'exists', no temporary files left"
                if not problems else "PROBLEMS: " + "; ".join(problems)),
             f"- One process, {len(resident)} files through the library: resident memory "
             f"{resident[0]:.0f} MB after file 1, {resident[min(9, len(resident) - 1)]:.0f} MB after file "
             f"{min(10, len(resident))}, {resident[-1]:.0f} MB after file {len(resident)} "
             f"(max {max(resident):.0f} MB).", "<!-- load_test:end -->"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--parallel-files", type=int, default=40, help="files the parallel workers share")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    inputs = make_inputs(args.files, WORK / "inputs")
    seq = sequential(inputs)
    print(f"sequential done: {sum(r['code'] != 0 for r in seq)} failures", flush=True)
    par, par_seconds = parallel(inputs[:args.parallel_files], args.workers)
    print(f"parallel done: {sum(r['code'] != 0 for r in par)} failures", flush=True)
    problems = race(inputs[0], args.workers, args.rounds)
    resident = in_process(inputs)
    text = report(args, seq, par, par_seconds, problems, resident)
    print(text)
    write_section("load_test", text)
    failures = [r for r in seq + par if r["code"] != 0]
    for r in failures[:5]:
        print("failure:", r, file=sys.stderr)
    sys.exit(1 if failures or problems else 0)


if __name__ == "__main__":
    main()
