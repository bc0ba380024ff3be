"""Issue 18: extending an encoded photo against encoding the whole photo from scratch.

    python bench/extend_issue18.py [--seconds 60] [--repeats 3] [--out bench/extend]

For each repeat (seed): encode the left half of kodim01 for S seconds; `inr extend` it to the
whole photo for S seconds (only the new partitions train); encode the whole photo from scratch
for S seconds and for 2·S seconds (the two stages' total). PSNR of the right half (the new
region) and of the left half, 8-bit convention, from decodes at scale 1. Then: a 4× decode
around the old/new border (picture and a seam score), and an extension whose new content is
another photo (kodim03's right half): the frozen global branch was fitted to kodim01 only.
Run on an otherwise idle machine; prints one JSON line per run and a summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
INR = [sys.executable, "-m", "inrcli"]


def run(*args) -> dict:
    result = subprocess.run([*INR, *map(str, args), "--json", "-q"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def decode(model: Path, out: Path, *flags) -> np.ndarray:
    subprocess.run([*INR, "decode", str(model), "-o", str(out), "--force", "-q", *flags], check=True)
    return iio.imread(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def seam_score(picture: np.ndarray, column: int) -> float:
    """Mean absolute step across ``column`` over the mean absolute step between neighbouring
    columns nearby: 1 means the border is as smooth as the picture around it."""
    grey = picture.astype(np.float64).mean(-1)
    steps = np.abs(np.diff(grey, axis=1))
    around = np.concatenate([steps[:, column - 12:column - 2], steps[:, column + 2:column + 12]], axis=1)
    return float(steps[:, column - 1].mean() / around.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/extend"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="inr-extend-"))
    photo = iio.imread(DATA / "kodim01.png")
    other = iio.imread(DATA / "kodim03.png")
    half = photo.shape[1] // 2
    iio.imwrite(work / "left.png", photo[:, :half])
    iio.imwrite(work / "full.png", photo)
    iio.imwrite(work / "mixed.png", np.concatenate([photo[:, :half], other[:, half:]], axis=1))
    seconds = args.seconds
    rows = []
    for seed in range(args.repeats):
        left = work / f"left{seed}.safetensors"
        run("encode", work / "left.png", "-o", left, "--seconds", seconds, "--seed", seed, "--force")
        grown = work / f"grown{seed}.safetensors"
        report = run("extend", left, work / "full.png", "--at", "0,0", "-o", grown, "--seconds", seconds,
                     "--seed", seed, "--force")
        extended = decode(grown, work / "grown.png")
        row = {"seed": seed, "extend_steps": report["steps"], "extend_new_psnr": psnr(extended[:, half:], photo[:, half:]),
               "extend_old_psnr": psnr(extended[:, :half], photo[:, :half]), "extend_bytes": report["bytes"]}
        for factor in (1, 2):
            scratch = work / f"scratch{seed}_{factor}.safetensors"
            summary = run("encode", work / "full.png", "-o", scratch, "--seconds", factor * seconds, "--seed", seed,
                          "--params", report["params"], "--force")
            whole = decode(scratch, work / "scratch.png")
            row |= {f"scratch{factor}x_new_psnr": psnr(whole[:, half:], photo[:, half:]),
                    f"scratch{factor}x_old_psnr": psnr(whole[:, :half], photo[:, :half]),
                    f"scratch{factor}x_steps": summary["steps"]}
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {key: statistics.median(r[key] for r in rows) for key in rows[0] if key != "seed"}
    big = decode(work / "grown0.safetensors", work / "big.png", "--scale", "4")
    border = 4 * half
    iio.imwrite(args.out / "seam_4x.png", big[4 * 200:4 * 200 + 256, border - 128:border + 128])
    scratch_big = decode(work / "scratch0_1.safetensors", work / "scratch_big.png", "--scale", "4")
    summary["seam_score_extended"] = seam_score(big, border)
    summary["seam_score_scratch"] = seam_score(scratch_big, border)
    mixed = work / "mixed.safetensors"
    report = run("extend", work / "left0.safetensors", work / "mixed.png", "--at", "0,0", "-o", mixed,
                 "--seconds", seconds, "--force")
    target = np.concatenate([photo[:, :half], other[:, half:]], axis=1)
    summary["other_photo_new_psnr"] = psnr(decode(mixed, work / "mixed_dec.png")[:, half:], target[:, half:])
    scratch_other = work / "other.safetensors"
    run("encode", work / "mixed.png", "-o", scratch_other, "--seconds", seconds, "--params", report["params"], "--force")
    summary["other_photo_scratch_new_psnr"] = psnr(decode(scratch_other, work / "o.png")[:, half:], target[:, half:])
    print(json.dumps({"summary": {k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()}}))


if __name__ == "__main__":
    main()
