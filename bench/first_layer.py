"""The first layer's frequencies as levers (issue 13): encode each signal with its kind's lg-siren
preset given a first-layer ω0 (``--w0``; audio scales it with the clip's duration, as the kind
does) and a local first-layer frequency (``--local``, radians per sample, or ``none`` for SIREN's
initialisation), then ``inr eval``.  Every combination runs one after the other in this script,
one run per row; run it with the machine otherwise idle.

    python bench/first_layer.py --signals astronaut gt_bach --local none 0.35 --seconds 60
    python bench/first_layer.py --signals gt_bach --w0 3000 7500 --local none --seconds 60
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
SIGNALS = {"gt_bach": DATA / "audio" / "gt_bach.wav", "trumpet": DATA / "audio" / "trumpet.ogg",
           "robin": DATA / "audio" / "robin.ogg", "chime": ROOT / "samples" / "chime.wav",
           "realshort": DATA / "video" / "realshort.mp4", "bunny": DATA / "meshes" / "bunny.ply",
           "spot": DATA / "meshes" / "spot.obj", "phantom": ROOT / "samples" / "phantom.nii.gz",
           **{name: DATA / "images" / f"{name}.png"
              for name in ["astronaut", "camera", *(f"kodim0{i}" for i in range(1, 9))]}}
PRESET_DEFAULT = "preset"


def encode_with(w0: str, local: str, source: str, output: str, seconds: str) -> None:
    """``inr encode`` in this process, every kind's lg-siren preset given this first-layer ω0 and
    local first-layer frequency (``preset`` keeps the kind's own); the source's kind uses its own."""
    from dataclasses import replace

    from inrcli.signals import KINDS, signal_kind

    for kind in (type(signal_kind(name)) for name in KINDS):
        preset = kind.presets.get("lg-siren")
        if preset is None:
            continue
        if w0 != PRESET_DEFAULT:
            preset = replace(preset, first_w0=float(w0))
        if local != PRESET_DEFAULT:
            preset = preset.with_model(local_frequency=None if local == "none" else float(local))
        kind.presets = {**kind.presets, "lg-siren": preset}
    sys.argv = ["inr", "encode", source, "-o", output, "--seconds", seconds, "--force", "--quiet", "--json"]
    from inrcli.__main__ import main

    main()


def one_row(name: str, w0: str, local: str, seconds: float, folder: Path) -> dict:
    model = folder / f"{name}.safetensors"
    encoded = subprocess.run([sys.executable, __file__, "--encode", w0, local, str(SIGNALS[name]), str(model),
                              f"{seconds:g}"], capture_output=True, text=True, check=True, cwd=ROOT)
    scores = subprocess.run([sys.executable, "-m", "inrcli", "eval", str(SIGNALS[name]), str(model), "--json"],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    scores = {key: value for key, value in json.loads(scores.stdout).items() if isinstance(value, (int, float))}
    return {"signal": name, "first_w0": w0, "local_frequency": local, "seconds": seconds,
            "steps": json.loads(encoded.stdout)["steps"], **scores, "bytes": model.stat().st_size}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--encode":  # internal: one encode
        encode_with(*sys.argv[2:7])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", nargs="+", default=["astronaut", "gt_bach"], choices=list(SIGNALS))
    parser.add_argument("--w0", nargs="+", default=[PRESET_DEFAULT],
                        help="first-layer ω0 (audio: per 7 s of clip); 'preset' keeps the kind's")
    parser.add_argument("--local", nargs="+", default=[PRESET_DEFAULT],
                        help="local first-layer frequency, rad/sample; 'none' = SIREN's init; 'preset' the kind's")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, help="also append the rows to this JSON-lines file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.signals:
            for w0 in args.w0:
                for local in args.local:
                    row = json.dumps(one_row(name, w0, local, args.seconds, Path(folder)))
                    print(row, flush=True)
                    if args.out:
                        with args.out.open("a") as out:
                            out.write(row + "\n")


if __name__ == "__main__":
    main()
