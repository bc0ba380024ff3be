"""Encoding on a shared machine (issue 13): the old thread behaviour against the new default.

    python bench/contention.py [--repeats 3] [--steps 300]

Run it with nothing else on the machine: it makes the contention itself.  For each policy —
``old`` (``--threads`` = the core count, what torch does by default) and ``new`` (no flag: the
thread policy of ``inrcli/threads.py``) — it times ``inr encode samples/chelsea.png --steps N``:

* alone;
* beside one busy process (``yes > /dev/null``);
* two encodes started at once (wall time until both finish, against twice the time alone);
* eight small files: one ``inr encode`` per file in a loop, against one ``inr encode -j 2``.

Every figure is the median of ``--repeats`` runs.  The table goes between markers in
bench/RESULTS.md and the raw runs to bench/contention.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from results_section import write_section  # noqa: E402

INR = [sys.executable, "-m", "inrcli"]
SAMPLE = ROOT / "samples" / "chelsea.png"


def timed(commands: list[list[str]]) -> float:
    """Start every command at once; seconds until the last has finished (each must succeed)."""
    started = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
                 for command in commands]
    for process, command in zip(processes, commands):
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {stderr.decode()[-400:]}")
    return time.perf_counter() - started


def encode(output: Path, steps: int, policy: list[str], source: Path = SAMPLE) -> list[str]:
    return INR + ["encode", str(source), "-o", str(output), "--steps", str(steps), "--force", "-q", *policy]


def small_files(folder: Path, count: int) -> list[Path]:
    """``count`` 128×128 crops of the sample photo."""
    import imageio.v3 as iio

    image = iio.imread(SAMPLE)
    paths = []
    for index in range(count):
        top, left = (index * 20) % (image.shape[0] - 128), (index * 37) % (image.shape[1] - 128)
        path = folder / f"crop{index}.png"
        iio.imwrite(path, image[top:top + 128, left:left + 128])
        paths.append(path)
    return paths


def measure(policy_name: str, policy: list[str], steps: int, folder: Path, files: list[Path]) -> dict:
    out = folder / policy_name
    out.mkdir(exist_ok=True)
    result = {"alone": timed([encode(out / "a.safetensors", steps, policy)])}
    busy = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # let it take its core
        result["beside_busy"] = timed([encode(out / "b.safetensors", steps, policy)])
    finally:
        busy.kill()
        busy.wait()
    result["two_at_once"] = timed([encode(out / f"t{k}.safetensors", steps, policy) for k in range(2)])
    started = time.perf_counter()
    for path in files:
        timed([encode(out / f"{path.stem}.safetensors", steps // 3, policy, path)])
    result["loop_8_files"] = time.perf_counter() - started
    many = out / "many"
    many.mkdir(exist_ok=True)
    result["j2_8_files"] = timed([INR + ["encode", *map(str, files), "-o", str(many), "-j", "2", "--steps",
                                         str(steps // 3), "--force", "-q", *policy]])
    return result


def report(runs: list[dict], steps: int, repeats: int) -> str:
    def median(policy: str, key: str) -> float:
        return statistics.median(run[key] for run in runs if run["policy"] == policy)

    cores = os.cpu_count()
    lines = [f"`python bench/contention.py --repeats {repeats} --steps {steps}`: `inr encode samples/chelsea.png "
             f"--steps {steps}` (451×300), wall seconds, median of {repeats} runs per cell; {cores} cores; the "
             f"machine otherwise idle. Eight files: 128×128 crops, `--steps {steps // 3}` each.", "",
             "| condition | old (`--threads " + str(cores) + "`) | new default |", "|---|---|---|"]
    for key, label in (("alone", "alone"), ("beside_busy", "beside one busy process (`yes`)"),
                       ("two_at_once", "two at once (both finished)"),
                       ("loop_8_files", "8 files, one `inr encode` each, in turn"),
                       ("j2_8_files", "8 files, one `inr encode -j 2`")):
        lines.append(f"| {label} | {median('old', key):.1f} | {median('new', key):.1f} |")
    lines += ["", "Targets (new default):"]
    alone, busy = median("new", "alone"), median("new", "beside_busy")
    lines.append(f"- beside one busy process ≤ 1.5× alone: {busy / alone:.2f}× "
                 f"({'met' if busy <= 1.5 * alone else 'not met'}; old: "
                 f"{median('old', 'beside_busy') / median('old', 'alone'):.2f}×)")
    both = median("new", "two_at_once")
    lines.append(f"- two at once within the time of one after the other ({2 * alone:.1f} s): {both:.1f} s "
                 f"({'met' if both <= 2 * alone else 'not met'}; old: {median('old', 'two_at_once'):.1f} s against "
                 f"{2 * median('old', 'alone'):.1f} s)")
    speedup = median("new", "loop_8_files") / median("new", "j2_8_files")
    lines.append(f"- `-j 2` over 8 files ≥ 1.6× the throughput of the loop: {speedup:.2f}× "
                 f"({'met' if speedup >= 1.6 else 'not met'})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    runs = []
    policies = {"old": ["--threads", str(os.cpu_count())], "new": []}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = small_files(folder, 8)
        for repeat in range(args.repeats):
            for name, policy in policies.items():
                run = {"policy": name, "repeat": repeat, **measure(name, policy, args.steps, folder, files)}
                print(json.dumps(run), flush=True)
                runs.append(run)
    (ROOT / "bench" / "contention.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    text = report(runs, args.steps, args.repeats)
    write_section("contention", f"<!-- contention:begin -->\n## Contention (issue 13)\n\n{text}\n<!-- contention:end -->")
    print(text)


if __name__ == "__main__":
    main()
