"""Issue 15: one network for a set of images against one file per image, interpolation, adding.

    python bench/sets_issue15.py [--seconds 320] [--out docs/img] [--json bench/sets_issue15.json]

Data: ``bench/make_set.py``'s 64 crops of 64×64 (set) and 8 held back, cut from ../shared/data.

* **Shared against separate** at the same total parameters (64 × the default budget of one crop)
  and the same total training seconds S: each crop encoded on its own by the default encoder for
  S/64 seconds, against one set for S seconds — with learned codes (``latent``), learned grids of
  codes (``spatial``) and with the index as input (``index``).  Mean / worst PSNR (8-bit decodes)
  and total bytes.
* **Interpolation** (every set file): for 10 pairs, the decode at 0.5 against the pixel average
  of the two ends' decodes: PSNR between them (high = a cross-fade) and sharpness (mean absolute
  Laplacian, relative to the ends' mean; a cross-fade of unlike pictures is blurrier than either).
  A strip of pictures for two pairs goes to docs/img/.
* **Adding**: ``add`` of the 8 held-back crops to the latent and the spatial set in T/10 seconds
  in all, against their own default encodes (made once for both sets) with T/8 each (T = 8 × S/64:
  what each got in the comparison above) and with T/80 each (the same tenth).

Training seconds come from the library (no process start-up); run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.make_set import cut  # noqa: E402

PAIRS = 10


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two pictures in 0…1 after 8-bit rounding, as ``inr eval`` scores PNGs."""
    a, b = (np.rint(np.clip(x, 0, 1) * 255) for x in (a, b))
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(255.0 ** 2 / mse) if mse else float("inf")


def sharpness(picture: np.ndarray) -> float:
    """Mean absolute discrete Laplacian of the grey picture (0…1 units)."""
    grey = picture.mean(-1)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(np.abs(lap).mean())


def separate(images, seconds_each: float) -> dict:
    """Each image by the default encoder for ``seconds_each``: PSNRs, bytes, training seconds."""
    from inrcli import api, fileformat

    scores, sizes, spent = [], [], 0.0
    for image in images:
        inr = api.encode(image, api.EncodeOptions(seconds=seconds_each))
        spent += inr.elapsed
        sizes.append(len(fileformat.to_bytes(inr)))
        scores.append(psnr8(api.decode(inr).values, image.values))
    return {"mean_psnr": statistics.fmean(scores), "worst_psnr": min(scores), "bytes": sum(sizes),
            "params": api.describe(inr)["params"] * len(images), "seconds": round(spent, 1), "psnr": scores}


def shared(names, images, seconds: float, params: int, conditioning: str):
    """One set for ``seconds``: the file and its figures."""
    from inrcli import api, collection, fileformat

    inr = collection.encode_set(names, images, api.EncodeOptions(seconds=seconds, params=params),
                                collection.SetOptions(conditioning=conditioning))
    scores = [psnr8(api.decode(collection.view(inr, m)).values, image.values) for m, image in enumerate(images)]
    return inr, {"conditioning": conditioning, "mean_psnr": statistics.fmean(scores), "worst_psnr": min(scores),
                 "bytes": len(fileformat.to_bytes(inr)), "dtype": inr.dtype, "params": inr.model.config.param_count()["total"],
                 "code_dim": inr.model.config.code_dim, "width": inr.model.config.width,
                 "steps": inr.training["steps"], "seconds": round(inr.elapsed, 1), "psnr": scores}


def interpolation(inr, pairs: list[tuple[int, int]]) -> dict:
    """The middle of each pair against the pixel average of its ends."""
    from inrcli import api, collection

    rows = []
    for a, b in pairs:
        ends = [api.decode(collection.view(inr, m)).values for m in (a, b)]
        middle = api.decode(collection.between(inr, a, b, 0.5)).values
        average = (ends[0] + ends[1]) / 2
        ends_sharpness = statistics.fmean(sharpness(e) for e in ends)
        rows.append({"pair": [a, b], "psnr_to_average": psnr8(middle, average),
                     "middle_sharpness": sharpness(middle) / ends_sharpness,
                     "average_sharpness": sharpness(average) / ends_sharpness,
                     "psnr_to_nearer_end": max(psnr8(middle, e) for e in ends)})
    return {"pairs": rows, **{f"mean_{key}": statistics.fmean(r[key] for r in rows)
                              for key in ("psnr_to_average", "middle_sharpness", "average_sharpness",
                                          "psnr_to_nearer_end")}}


def strip(inr, a: int, b: int, path: Path, scale: int = 2) -> None:
    """Pictures at 0, ¼, ½, ¾, 1 between two members, then the pixel average of the ends."""
    from inrcli import api, collection

    shape = tuple(n * scale for n in inr.signal.shape)
    tiles = [api.decode(collection.between(inr, a, b, t), shape).values for t in (0, 0.25, 0.5, 0.75, 1)]
    tiles.append((tiles[0] + tiles[-1]) / 2)
    gap = np.ones((shape[0], 4, 3), np.float32)
    row = np.concatenate([x for tile in tiles for x in (tile[..., :3], gap)][:-1], axis=1)
    iio.imwrite(path, np.rint(np.clip(row, 0, 1) * 255).astype(np.uint8))


def own_encodes(held, seconds_own: float) -> dict:
    """The held-back images' own default encodes, in ``seconds_own`` each and in a tenth of that."""
    own_full, own_tenth = separate(held, seconds_own), separate(held, seconds_own / 10)
    return {"own_seconds": own_full["seconds"], "own_mean_psnr": own_full["mean_psnr"],
            "own_tenth_seconds": own_tenth["seconds"], "own_tenth_mean_psnr": own_tenth["mean_psnr"]}


def adding(inr, held_names, held, seconds_own: float, own: dict) -> dict:
    """``add`` of the held-back images in a tenth of their own encodes' total time, against those."""
    from inrcli import api, collection

    _, report = collection.add_members(inr, held_names, held, api.EncodeOptions(seconds=seconds_own * len(held) / 10))
    return {"add_seconds": report["seconds"], "add_steps": report["steps"], "add_mean_psnr": report["mean_score"],
            "add_worst_psnr": min(report["scores"]), **own}


def machine() -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=320.0, help="total training seconds of each side")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=["latent", "spatial", "index"])
    args = parser.parse_args()
    from inrcli import collection

    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="inr-sets-"))
    cut(folder, 64, 64, 8)
    names, images = collection.read_members([str(folder / "set")])
    held_names, held = collection.read_members([str(folder / "held")])
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "seconds": args.seconds, "members": len(images)}
    results["separate"] = separate(images, args.seconds / len(images))
    print(json.dumps({"separate": {k: v for k, v in results["separate"].items() if k != "psnr"}}), flush=True)
    rng = np.random.default_rng(0)
    pairs = [tuple(int(x) for x in rng.choice(len(images), 2, replace=False)) for _ in range(PAIRS)]
    own = None
    for conditioning in args.only:
        inr, figures = shared(names, images, args.seconds, results["separate"]["params"], conditioning)
        figures["interpolation"] = interpolation(inr, pairs)
        for a, b in pairs[:2]:
            strip(inr, a, b, args.out / f"sets_between_{conditioning}_{names[a]}_{names[b]}.png")
        if conditioning != "index":
            own = own or own_encodes(held, args.seconds / len(images))
            figures["adding"] = adding(inr, held_names, held, args.seconds / len(images), own)
        results[conditioning] = figures
        print(json.dumps({conditioning: {k: v for k, v in figures.items() if k != "psnr"}}), flush=True)
    results["wall_seconds"] = round(time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
