"""What the default storage costs (issue 14): every kind of signal encoded with default flags
except ``--bits``, stored as float32 (``--bits 32``) and coded at 8 and 9 bits — PSNR from
``inr eval`` (or the kind's headline score), real file bytes, and training seconds.

    python bench/default_bits.py                     # the run behind the default (about 25 min)
    python bench/default_bits.py --cases chime --bits 32 8

One process per encode, one after the other; run it on an otherwise idle machine.  Rows go to
stdout as JSON lines and, with ``--out``, to a file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
INR = [sys.executable, "-m", "inrcli"]

# name → (input, extra flags): the default step count where an encode takes a minute or two,
# fewer steps for the slow kinds (said in the row)
CASES = {
    "chelsea": (ROOT / "samples" / "chelsea.png", []),
    "kodim03": (DATA / "images" / "kodim03.png", []),
    "kodim05": (DATA / "images" / "kodim05.png", []),
    "chime": (ROOT / "samples" / "chime.wav", []),
    "gt_bach": (DATA / "audio" / "gt_bach.wav", ["--steps", "1000"]),
    "realshort": (ROOT / "samples" / "realshort.mp4", ["--steps", "500"]),
    "spot": (ROOT / "samples" / "spot.obj", ["--steps", "500"]),
    "phantom": (ROOT / "samples" / "phantom.nii.gz", ["--steps", "500"]),
    "grayscott": (DATA / "graphs" / "spot_grayscott_fine.npz", ["--steps", "1000"]),
    # the auto search made one encode of the fine mesh take over 6 minutes: the coarse one, k fixed
    "grayscott_coarse": (DATA / "graphs" / "spot_grayscott_coarse.npz",
                         ["--steps", "1000", "--k", "100", "--laplacian", "combinatorial"]),
}


def encode(source: Path, flags: list[str], bits: int, out: Path) -> dict:
    command = INR + ["encode", str(source), "-o", str(out), "--bits", str(bits), "--force", "--quiet", "--json", *flags]
    summary = json.loads(subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    scores = json.loads(subprocess.run(INR + ["eval", str(source), str(out), "--json"], check=True,
                                       capture_output=True, text=True, cwd=ROOT).stdout)
    return {"bytes": out.stat().st_size, "steps": summary["steps"], "seconds": summary["seconds"],
            "params": summary["params"], "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--bits", nargs="*", type=int, default=[32, 8, 9])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for name in args.cases:
            source, flags = CASES[name]
            if not source.exists():
                print(f"skip {name}: {source} is absent", file=sys.stderr)
                continue
            for bits in args.bits:
                row = {"case": name, "bits": bits, "flags": flags,
                       **encode(source, flags, bits, Path(work) / f"{name}_{bits}.safetensors")}
                print(json.dumps(row), flush=True)
                if args.out:
                    with args.out.open("a") as file:
                        file.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
