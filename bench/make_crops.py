"""Cut the issue-16 datasets: 2,000 crops of 32×32 and 500 of 64×64 from the shared photos.

    python bench/make_crops.py OUTDIR

writes ``OUTDIR/crops32/NAME_IIII.png`` and ``OUTDIR/crops64/NAME_III.png`` (positions drawn
with a fixed seed, round-robin over the RGB photos in ../shared/data/images; see make_set.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_set import cut  # noqa: E402  (the same cutting as the sets benchmark)

DATASETS = {"crops32": (32, 2000), "crops64": (64, 500)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for name, (size, count) in DATASETS.items():
        written = cut(args.out, size, count, held=0, seed=size, folders=(name, name))
        print(f"{len(written)} crops of {size}×{size} in {args.out / name}")


if __name__ == "__main__":
    main()
