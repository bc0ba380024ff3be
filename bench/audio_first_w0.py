"""The audio first-layer frequency as a lever (issue 13): encode each clip with the first layer's
ω0 for a 7-second clip set to each value (it scales with the duration, as in the kind), then
``inr eval``.  One run per row; run it with the machine otherwise idle.

    python bench/audio_first_w0.py --w0 3000 7500 --seconds 60 --clips gt_bach
    python bench/audio_first_w0.py --w0 3000 6000 7500 --seconds 30 --clips chime trumpet robin
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "audio"
CLIPS = {"gt_bach": DATA / "gt_bach.wav", "trumpet": DATA / "trumpet.ogg", "robin": DATA / "robin.ogg",
         "chime": ROOT / "samples" / "chime.wav"}


def encode_with_first_w0(w0_per_7s: float, source: str, output: str, seconds: str) -> None:
    """``inr encode`` in this process, the audio kind's lg-siren preset given this first-layer ω0
    (the kind scales it with the clip's duration, as always)."""
    from dataclasses import replace

    from inrcli.signals.audio import AudioKind

    AudioKind.presets = {**AudioKind.presets, "lg-siren": replace(AudioKind.presets["lg-siren"], first_w0=w0_per_7s)}
    sys.argv = ["inr", "encode", source, "-o", output, "--seconds", seconds, "--force", "--quiet", "--json"]
    from inrcli.__main__ import main

    main()


def one_row(clip: str, w0: float, seconds: float, folder: Path) -> dict:
    model = folder / f"{clip}_{w0:g}.safetensors"
    encoded = subprocess.run([sys.executable, __file__, "--encode", f"{w0:g}", str(CLIPS[clip]), str(model),
                              f"{seconds:g}"], capture_output=True, text=True, check=True, cwd=ROOT)
    scores = subprocess.run([sys.executable, "-m", "inrcli", "eval", str(CLIPS[clip]), str(model), "--json"],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return {"clip": clip, "first_w0_per_7s": w0, "seconds": seconds, "steps": json.loads(encoded.stdout)["steps"],
            "psnr": json.loads(scores.stdout)["psnr"], "bytes": model.stat().st_size}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--encode":  # internal: one encode
        encode_with_first_w0(float(sys.argv[2]), *sys.argv[3:6])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--w0", type=float, nargs="+", default=[3000, 7500])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clips", nargs="+", default=["gt_bach"], choices=list(CLIPS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for clip in args.clips:
            for w0 in args.w0:
                print(json.dumps(one_row(clip, w0, args.seconds, Path(folder))), flush=True)


if __name__ == "__main__":
    main()
