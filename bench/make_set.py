"""Build the issue-15 collection: 64×64 crops of the shared photos (a set of 64, 8 held back).

    python bench/make_set.py OUTDIR [--size 64] [--count 64] [--held 8]

Crops are cut at positions drawn with a fixed seed from the RGB photos in ../shared/data/images
(round-robin over the photos, so every photo gives about the same number), and written as PNG:
``OUTDIR/set/NAME_III.png`` for the set and ``OUTDIR/held/NAME_III.png`` for the held-back ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images"


def photos() -> list[Path]:
    """The shared RGB photos, sorted by name (grayscale ones are skipped)."""
    return [path for path in sorted(DATA.glob("*.png")) if iio.imread(path).ndim == 3]


def cut(out: Path, size: int, count: int, held: int, seed: int = 0,
        folders: tuple[str, str] = ("set", "held")) -> list[Path]:
    """Write ``count + held`` crops of ``size``×``size`` into ``out/folders[0]`` (the first
    ``count``) and ``out/folders[1]``; the paths written."""
    rng = np.random.default_rng(seed)
    sources = photos()
    images = {path: iio.imread(path)[..., :3] for path in sources}
    written = []
    for index in range(count + held):
        path = sources[index % len(sources)]
        image = images[path]
        row, col = (int(rng.integers(0, n - size + 1)) for n in image.shape[:2])
        folder = out / folders[0 if index < count else 1]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{path.stem}_{index:03d}.png"
        iio.imwrite(target, image[row:row + size, col:col + size])
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--held", type=int, default=8)
    args = parser.parse_args()
    written = cut(args.out, args.size, args.count, args.held)
    print(f"{len(written)} crops of {args.size}×{args.size} in {args.out}")


if __name__ == "__main__":
    main()
