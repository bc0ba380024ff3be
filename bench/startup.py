"""Start-up time of the commands that must feel instant (issue 13): wall seconds of
``python -m inrcli ARGS``, median of N runs (min–max), for ``--version``, ``--help``, ``info``
and a two-step encode of a small picture (start-up, reading and writing, next to no training).

    python bench/startup.py [--runs 10] [--checkout DIR] [FILE.safetensors]

``--checkout`` times another checkout's ``inrcli`` (an older commit: ``git worktree add DIR REV``).

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


def timed(args: list[str], runs: int, checkout: Path = ROOT) -> list[float]:
    """Wall seconds of ``runs`` runs of ``inr ARGS`` (each must succeed)."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "inrcli", *args], check=True, capture_output=True, cwd=checkout)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    args = parser.parse_args()
    out = str(Path(tempfile.mkdtemp()) / "small.safetensors")
    encode = ["encode", str(ROOT / "samples" / "chelsea.png"), "-o", out, "--steps", "2", "--params", "2000",
              "--force", "-q"]
    model = args.file
    if model is None:
        model = str(Path(tempfile.mkdtemp()) / "chelsea.safetensors")
        subprocess.run([sys.executable, "-m", "inrcli", "encode", str(ROOT / "samples" / "chelsea.png"), "-o", model,
                        "--steps", "5", "-q"], check=True, cwd=ROOT)
    print("| command | median s | min–max |\n|---|---|---|")
    for command in (["--version"], ["--help"], ["info", model], ["info", model, "--json"], encode):
        seconds = timed(command, args.runs, args.checkout)
        shown = " ".join("FILE" if part == model else "OUT" if part == out else
                         "samples/chelsea.png" if part == encode[1] else part for part in command)
        print(f"| `inr {shown}` | {statistics.median(seconds):.2f} | {min(seconds):.2f}–{max(seconds):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
