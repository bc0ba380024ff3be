"""Write one small INR file of every kind through the CLI, to compare two versions byte for byte.

    python scripts/golden_files.py OUTDIR          # with one checkout
    cmp -s OLD/image.safetensors NEW/image.safetensors

Every encode uses ``--steps`` and a fixed seed, so the same code on the same machine writes the
same bytes; a refactor that claims to change nothing is checked by running this script before
and after it and comparing the folders (``scripts/golden_files.py --compare OLD NEW``).
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"

# name → (input, flags); small budgets and few steps keep the whole run near a minute
CASES = {
    "image": ("chelsea.png", ["--params", "20000", "--steps", "40"]),
    "image-siren": ("chelsea.png", ["--arch", "siren", "--params", "8000", "--steps", "40"]),
    "image-f16": ("chelsea.png", ["--params", "20000", "--steps", "20", "--dtype", "float16"]),
    "audio": ("chime.wav", ["--params", "12000", "--steps", "40"]),
    "video": ("realshort.mp4", ["--params", "20000", "--steps", "10"]),
    "shape": ("spot.obj", ["--params", "20000", "--steps", "10"]),
    "shape-sdf": ("spot.obj", ["--params", "20000", "--steps", "10", "--field", "sdf"]),
    "graph": ("graph.npz", ["--params", "3000", "--steps", "30", "--k", "12", "--holdout", "0.1"]),
}


def tiny_graph(path: Path) -> None:
    """A 12×12 grid mesh with a smooth signal on its nodes."""
    n = 12
    y, x = np.mgrid[0:n, 0:n] / (n - 1)
    points = np.stack([x.ravel(), y.ravel(), np.zeros(n * n)], -1)
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], -1), np.stack([b, d, c], -1)])
    target = np.sin(3 * points[:, 0]) * np.cos(2 * points[:, 1])
    np.savez(path, points=points, faces=faces, target=target)


def write_all(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        graph = Path(scratch) / "graph.npz"
        tiny_graph(graph)
        for name, (source, flags) in CASES.items():
            path = graph if source == "graph.npz" else SAMPLES / source
            target = out / f"{name}.safetensors"
            subprocess.run([sys.executable, "-m", "inrcli", "encode", str(path), "-o", str(target), "--force",
                            "--quiet", *flags], check=True, cwd=ROOT)
            print(f"{name}: {target.stat().st_size:,} bytes", flush=True)


def compare(old: Path, new: Path) -> int:
    differ = 0
    for name in CASES:
        a, b = old / f"{name}.safetensors", new / f"{name}.safetensors"
        same = a.exists() and b.exists() and filecmp.cmp(a, b, shallow=False)
        differ += not same
        print(f"{name:12s} {'same bytes' if same else 'DIFFERENT'}")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.out is None:
        parser.error("name an output folder, or --compare OLD NEW")
    write_all(args.out)


if __name__ == "__main__":
    main()
