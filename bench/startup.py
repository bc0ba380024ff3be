"""Start-up time of the commands that must feel instant (issue 13): wall seconds of
``python -m inrcli ARGS``, median of N runs (min–max), for ``--version``, ``--help`` and ``info``.

    python bench/startup.py [--runs 10] [FILE.safetensors]

Without FILE, samples/chelsea.png is encoded briefly first (not timed).  Run on an otherwise idle
machine: a start-up is mostly imports, which another process's load slows down.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` runs of ``inr ARGS`` (each must succeed)."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "inrcli", *args], check=True, capture_output=True, cwd=ROOT)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    model = args.file
    if model is None:
        model = str(Path(tempfile.mkdtemp()) / "chelsea.safetensors")
        subprocess.run([sys.executable, "-m", "inrcli", "encode", str(ROOT / "samples" / "chelsea.png"), "-o", model,
                        "--steps", "5", "-q"], check=True, cwd=ROOT)
    print("| command | median s | min–max |\n|---|---|---|")
    for command in (["--version"], ["--help"], ["info", model], ["info", model, "--json"]):
        seconds = timed(command, args.runs)
        shown = " ".join("FILE" if part == model else part for part in command)
        print(f"| `inr {shown}` | {statistics.median(seconds):.2f} | {min(seconds):.2f}–{max(seconds):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
