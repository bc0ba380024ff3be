"""Issue 14: rate–distortion of coded inr files against JPEG, WebP, AVIF, FLAC/Opus/Vorbis and H.264.

    python bench/rd.py [--seconds 120] [--bpp 0.25,0.5,1,2] [--out bench/rd]       # the full run
    python bench/rd.py --images astronaut --bpp 1 --audio-bpp 1 --video-bpp 0.3 --seconds 4   # a smoke run

Images (Kodak 01–08 and astronaut from ../shared/data): `inr encode --bpp B --seconds S` for each
B, against Pillow's JPEG, WebP and AVIF over a quality sweep; bpp from the real file sizes, PSNR
and SSIM from `inr eval` on the 8-bit decode. Per image a plot, a mean curve, and against JPEG the
Bjøntegaard rate difference (BD-rate, % bits at equal PSNR; negative = inr smaller) and PSNR
difference (dB at equal bpp) over the bpp range both cover. Audio (gt_bach.wav): inr at several
bits per sample against FLAC (lossless size) and Ogg Opus / Vorbis over their compression levels
(soundfile), PSNR and SNR from `inr eval`. Video (realshort.mp4): inr against H.264 re-encodes at
several CRFs and the file it came in, PSNR against the decoded original. Crops: a 16×16-partition
coded astronaut file cropped to 0:8,0:8 decodes to exactly that region of the full decode, and
its size ratio. Run on an otherwise idle machine (the time budget is wall-clock); writes
results.jsonl, summary.md and (with matplotlib) plots into --out.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
INR = [sys.executable, "-m", "inrcli"]
IMAGES = [f"kodim0{k}" for k in range(1, 9)] + ["astronaut"]
QUALITIES = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]


def inr(*args) -> dict:
    """Run ``inr ARGS --json`` (encode: quietly); its last JSON line."""
    quiet = ["-q"] if args[0] == "encode" else []
    result = subprocess.run([*INR, *map(str, args), "--json", *quiet], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return json.loads(result.stdout.strip().splitlines()[-1])


def scores(reference: Path, candidate: Path) -> dict:
    """``inr eval`` of a candidate file (codec output or inr file) against the reference."""
    return inr("eval", reference, candidate)


def image_codecs(path: Path, folder: Path) -> list[dict]:
    """JPEG, WebP and AVIF (Pillow) over the quality sweep: one row per file."""
    from PIL import Image

    picture = Image.open(path).convert("RGB")
    pixels = picture.width * picture.height
    rows = []
    for codec, ext in (("jpeg", "jpg"), ("webp", "webp"), ("avif", "avif")):
        for quality in QUALITIES:
            out = folder / f"{path.stem}_q{quality}.{ext}"
            try:
                picture.save(out, quality=quality)
            except (OSError, KeyError, ValueError) as exc:  # a plugin missing from this Pillow
                rows.append({"codec": codec, "error": str(exc)})
                break
            if ext == "avif":  # inr reads PNG, not AVIF: score a lossless copy of the decode
                iio.imwrite(folder / "avif.png", np.asarray(Image.open(out).convert("RGB")))
            score = scores(path, folder / "avif.png" if ext == "avif" else out)
            rows.append({"codec": codec, "quality": quality, "bytes": out.stat().st_size,
                         "bpp": 8 * out.stat().st_size / pixels, "psnr": score["psnr"], "ssim": score["ssim"]})
    return rows


def image_inr(path: Path, folder: Path, bpps: list[float], seconds: float) -> list[dict]:
    return inr_rows(path, folder / path.stem, bpps, seconds, "ssim")


def bd(anchor: list[dict], test: list[dict]) -> dict:
    """Bjøntegaard deltas of ``test`` against ``anchor`` (rows with bpp, psnr): cubic fits over the
    range both cover; BD-rate in % of bits at equal PSNR, BD-PSNR in dB at equal bpp."""
    def points(rows):
        rows = sorted((r for r in rows if "psnr" in r and r["psnr"] is not None), key=lambda r: r["bpp"])
        return np.log([r["bpp"] for r in rows]), np.array([r["psnr"] for r in rows])

    (ra, pa), (rt, pt) = points(anchor), points(test)
    if len(rt) < 2 or len(ra) < 2:
        return {"bd_rate": None, "bd_psnr": None}
    degree = min(3, len(rt) - 1, len(ra) - 1)
    lo, hi = max(pa.min(), pt.min()), min(pa.max(), pt.max())
    rate = None
    if hi > lo:
        fa, ft = np.polyint(np.polyfit(pa, ra, degree)), np.polyint(np.polyfit(pt, rt, degree))
        mean_diff = ((np.polyval(ft, hi) - np.polyval(ft, lo)) - (np.polyval(fa, hi) - np.polyval(fa, lo))) / (hi - lo)
        rate = 100 * (np.exp(mean_diff) - 1)
    lo, hi = max(ra.min(), rt.min()), min(ra.max(), rt.max())
    gain = None
    if hi > lo:
        fa, ft = np.polyint(np.polyfit(ra, pa, degree)), np.polyint(np.polyfit(rt, pt, degree))
        gain = ((np.polyval(ft, hi) - np.polyval(ft, lo)) - (np.polyval(fa, hi) - np.polyval(fa, lo))) / (hi - lo)
    return {"bd_rate": None if rate is None else round(float(rate), 2),
            "bd_psnr": None if gain is None else round(float(gain), 3)}


def audio(folder: Path, bpps: list[float], seconds: float) -> list[dict]:
    import soundfile

    path = DATA / "audio" / "gt_bach.wav"
    samples = soundfile.info(str(path)).frames
    data, rate = soundfile.read(str(path), dtype="float32")
    rows = [{"codec": "flac", "bytes": len(_sound_bytes(data, rate, "FLAC", "PCM_16")),
             "note": "lossless at 16 bits"}]
    rows[0]["bpp"] = 8 * rows[0]["bytes"] / samples
    for codec, subtype in (("opus", "OPUS"), ("vorbis", "VORBIS")):
        for level in (0.0, 0.25, 0.5, 0.75, 0.9, 1.0):
            try:  # Opus codes 48 kHz only: resampled there and back, the rate counted on the original
                encoded = _sound_bytes(_resampled(data, rate, 48000) if codec == "opus" else data,
                                       48000 if codec == "opus" else rate, "OGG", subtype, level)
            except Exception as exc:  # noqa: BLE001 — whatever libsndfile refuses, recorded
                rows.append({"codec": codec, "error": str(exc)})
                break
            out = folder / f"bach_{codec}_{level}.wav"
            decoded, decoded_rate = soundfile.read(io.BytesIO(encoded), dtype="float32")
            soundfile.write(str(out), _resampled(decoded, decoded_rate, rate)[:samples], rate, subtype="FLOAT")
            try:
                score = scores(path, out)
            except RuntimeError as exc:
                rows.append({"codec": codec, "error": str(exc)})
                break
            rows.append({"codec": codec, "compression_level": level, "bytes": len(encoded),
                         "bpp": 8 * len(encoded) / samples, "psnr": score["psnr"], "snr": score.get("snr")})
    return rows + inr_rows(path, folder / "bach", bpps, seconds, "snr")


def inr_rows(path: Path, stem: Path, bpps: list[float], seconds: float, second_metric: str) -> list[dict]:
    """``inr encode --bpp B`` of ``path`` for each target: real size, bits, PSNR and one more score."""
    rows = []
    for bpp in bpps:
        out = stem.with_name(f"{stem.name}_{bpp}.safetensors")
        try:
            summary = inr("encode", path, "-o", out, "--bpp", bpp, "--seconds", seconds, "--force")
        except RuntimeError as exc:  # a target below the smallest file inr can write: say so, go on
            rows.append({"codec": "inr", "target_bpp": bpp, "error": str(exc)})
            continue
        score = scores(path, out)
        rows.append({"codec": "inr", "target_bpp": bpp, "bytes": summary["bytes"], "bpp": summary["bpp"],
                     "bits": summary["bits"], "params": summary["params"], "steps": summary["steps"],
                     "psnr": score["psnr"], second_metric: score.get(second_metric)})
    return rows


def _resampled(data: np.ndarray, rate: int, to: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    return data if rate == to else resample_poly(data, to // gcd(rate, to), rate // gcd(rate, to), axis=0).astype(np.float32)


def _sound_bytes(data, rate, fmt, subtype, level=None) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    extra = {} if level is None else {"compression_level": level}
    soundfile.write(buffer, data, rate, format=fmt, subtype=subtype, **extra)
    return buffer.getvalue()


def video(folder: Path, bpps: list[float], seconds: float) -> list[dict]:
    path = DATA / "video" / "realshort.mp4"
    frames = iio.imread(path)  # (T, H, W, 3)
    voxels = frames.shape[0] * frames.shape[1] * frames.shape[2]
    rows = [{"codec": "h264-original", "bytes": path.stat().st_size, "bpp": 8 * path.stat().st_size / voxels,
             "note": "the reference itself"}]
    fps = iio.immeta(path).get("fps", 25)
    for crf in (18, 23, 28, 33, 38):
        out = folder / f"h264_crf{crf}.mp4"
        iio.imwrite(out, frames, fps=fps, codec="libx264", output_params=["-crf", str(crf)], macro_block_size=1)
        score = scores(path, out)
        rows.append({"codec": "h264", "crf": crf, "bytes": out.stat().st_size, "bpp": 8 * out.stat().st_size / voxels,
                     "psnr": score["psnr"], "ssim": score.get("ssim")})
    return rows + inr_rows(path, folder / "video", bpps, seconds, "ssim")


def crop_check(folder: Path, seconds: float) -> dict:
    """A coded 16×16-partition astronaut file and its 0:8,0:8 crop: exact region, size ratio."""
    path = DATA / "images" / "astronaut.png"
    full, part = folder / "astro.safetensors", folder / "astro_crop.safetensors"
    inr("encode", path, "-o", full, "--partitions", "16,16", "--bits", "8", "--seconds", seconds, "--force")
    subprocess.run([*INR, "crop", full, "--region", "0:8,0:8", "-o", part, "--force", "-q"], check=True, cwd=ROOT)
    for model, png in ((full, "full.png"), (part, "part.png")):
        subprocess.run([*INR, "decode", model, "-o", folder / png, "--force", "-q"], check=True, cwd=ROOT)
    window = inr("info", part)["window"]
    (r0, r1), (c0, c1) = window
    exact = bool(np.array_equal(iio.imread(folder / "full.png")[r0:r1, c0:c1], iio.imread(folder / "part.png")))
    return {"check": "crop 0:8,0:8 of a 16x16 coded astronaut", "exact_region": exact,
            "bytes_full": full.stat().st_size, "bytes_crop": part.stat().st_size,
            "ratio": round(part.stat().st_size / full.stat().st_size, 4)}


def plot(name: str, rows: list[dict], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for codec in sorted({r["codec"] for r in rows if "psnr" in r}):
        points = sorted((r["bpp"], r["psnr"]) for r in rows if r["codec"] == codec and r.get("psnr") is not None)
        if points:
            axis.plot(*zip(*points), marker="o", label=codec)
    axis.set(xscale="log", xlabel="bits per sample", ylabel="PSNR (dB)", title=name)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def mean_curve(per_image: dict[str, list[dict]], codec: str, key: str) -> list[dict]:
    """A codec's mean PSNR over images at each setting (quality or --bpp target) and its mean bpp."""
    groups: dict = {}
    for rows in per_image.values():
        for r in rows:
            if r["codec"] == codec and r.get("psnr") is not None:
                groups.setdefault(r[key], []).append(r)
    return [{"codec": codec, "bpp": float(np.mean([r["bpp"] for r in g])), "psnr": float(np.mean([r["psnr"] for r in g]))}
            for _, g in sorted(groups.items()) if len(g) == len(per_image)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="inr's training budget per encode")
    parser.add_argument("--bpp", default="0.25,0.5,1,2", help="inr's targets for images, bits per pixel")
    parser.add_argument("--audio-bpp", default="0.5,1,2,4", help="inr's targets for audio, bits per sample")
    parser.add_argument("--video-bpp", default="0.1,0.2,0.4,0.8", help="inr's targets for video, bits per voxel (0.07 is about the smallest file)")
    parser.add_argument("--images", default=",".join(IMAGES), help="comma-separated; '' for none")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--no-crop", action="store_true")
    parser.add_argument("--append", action="store_true", help="add to --out's results.jsonl (a run in parts)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "rd")
    args = parser.parse_args()
    bpps = [float(b) for b in args.bpp.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    # a line at a time: a long run shows its progress, and a run cut short keeps what it measured
    log = (args.out / "results.jsonl").open("a" if args.append else "w", buffering=1)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for name in filter(None, args.images.split(",")):
            path = DATA / "images" / f"{name}.png"
            for row in image_codecs(path, folder) + image_inr(path, folder, bpps, args.seconds):
                log.write(json.dumps({"signal": name, **row}) + "\n")
        for section, run, targets in (("audio", None if args.no_audio else audio, args.audio_bpp),
                                      ("video", None if args.no_video else video, args.video_bpp)):
            if run is not None:
                for row in run(folder, [float(b) for b in targets.split(",")], args.seconds):
                    log.write(json.dumps({"signal": section, **row}) + "\n")
        if not args.no_crop:
            log.write(json.dumps(crop_check(folder, args.seconds)) + "\n")
    log.close()
    lines = summarise(args.out, args.seconds)
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def summarise(out: Path, seconds: float) -> list[str]:
    """Plots, BD figures and the crop check from ``out/results.jsonl``."""
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    lines = [f"# rate–distortion, {seconds:g} s per inr encode", ""]
    per_signal: dict[str, list[dict]] = {}
    for row in rows:
        if "signal" in row:
            per_signal.setdefault(row["signal"], []).append(row)
    per_image = {name: rs for name, rs in per_signal.items() if name not in ("audio", "video")}
    for name, rs in per_signal.items():
        for failed in (r for r in rs if "error" in r):
            lines.append(f"{name}: inr --bpp {failed['target_bpp']} not written: {failed['error']}")
        if name in per_image:
            delta = bd([r for r in rs if r["codec"] == "jpeg"], [r for r in rs if r["codec"] == "inr" and "psnr" in r])
            lines.append(f"{name}: inr against JPEG {delta}")
        plot(name, rs, out / f"{name}.png")
    if per_image:
        means = [row for codec, key in (("jpeg", "quality"), ("webp", "quality"), ("avif", "quality"),
                                          ("inr", "target_bpp")) for row in mean_curve(per_image, codec, key)]
        plot("mean over images", means, out / "mean.png")
        for codec in ("jpeg", "webp", "avif", "inr"):
            lines.append(f"mean curve {codec}: " + ", ".join(f"{r['bpp']:.3f} bpp {r['psnr']:.2f} dB"
                                                              for r in means if r["codec"] == codec))
        lines.append(f"mean curve: inr against JPEG {bd([r for r in means if r['codec'] == 'jpeg'], [r for r in means if r['codec'] == 'inr'])}")
    lines += [f"crop: {row}" for row in rows if "check" in row]
    return lines


if __name__ == "__main__":
    main()
