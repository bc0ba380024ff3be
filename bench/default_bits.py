"""Issue 14: what the default storage (9-bit coded weights) costs against float32, every kind.

    python bench/default_bits.py [--out /tmp/default_bits.jsonl]

For each signal: `inr encode SRC --bits 32 --steps N` and `inr encode SRC --steps N` (the default:
coded, the last 20% of the steps rounded to the grids), one after the other, same seed; the file
sizes and `inr eval`'s scores of both. Fixed steps, so the figures do not depend on the load;
times do (run it on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
INR = [sys.executable, "-m", "inrcli"]

# name → (source, steps, headline score of `inr eval`)
CASES = {
    "image chelsea": (ROOT / "samples" / "chelsea.png", 2000, "psnr"),
    "image kodim03": (DATA / "images" / "kodim03.png", 2000, "psnr"),
    "audio chime": (ROOT / "samples" / "chime.wav", 2000, "psnr"),
    "video realshort": (ROOT / "samples" / "realshort.mp4", 500, "psnr"),
    "shape spot": (ROOT / "samples" / "spot.obj", 500, "iou"),
    "volume phantom": (ROOT / "samples" / "phantom.nii.gz", 500, "psnr"),
    "graph spot coarse": (DATA / "graphs" / "spot_grayscott_coarse.npz", 500, "r2"),
}


def run(*args) -> dict:
    done = subprocess.run([*INR, *map(str, args), "--json"], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip())
    return json.loads(done.stdout.strip().splitlines()[-1])


def side(source: Path, steps: int, flags: list[str], folder: Path, name: str) -> dict:
    out = folder / f"{name}.safetensors"
    started = time.perf_counter()
    summary = run("encode", source, "-o", out, "--steps", steps, "-q", "--force", *flags)
    seconds = time.perf_counter() - started
    return {"bytes": out.stat().st_size, "bits": summary["bits"], "params": summary["params"],
            "seconds": round(seconds, 1), "scores": run("eval", source, out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/default_bits.jsonl"))
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    with args.out.open("a") as log:
        for name, (source, steps, headline) in CASES.items():
            if (args.only and name not in args.only) or not source.exists():
                continue
            stem = name.replace(" ", "_")
            row = {"signal": name, "steps": steps, "headline": headline,
                   "float32": side(source, steps, ["--bits", "32"], folder, stem + "_f32"),
                   "default": side(source, steps, [], folder, stem + "_default")}
            f, d = row["float32"], row["default"]
            row["bytes_ratio"] = round(d["bytes"] / f["bytes"], 4)
            row["score_change"] = round(d["scores"][headline] - f["scores"][headline], 4)
            print(f"{name}: float32 {f['bytes']:,} B {headline} {f['scores'][headline]:.4f}; default "
                  f"{d['bits']}-bit {d['bytes']:,} B {headline} {d['scores'][headline]:.4f} "
                  f"(×{row['bytes_ratio']:.3f} bytes, {row['score_change']:+.4f})", flush=True)
            log.write(json.dumps(row) + "\n")
            log.flush()


if __name__ == "__main__":
    main()
