"""Video: MP4, WebM, AVI, MOV, MKV through imageio's ffmpeg plugin (imageio-ffmpeg ships the
ffmpeg binary), animated GIF through Pillow, and folders of numbered frames.

Values are ``(frames, rows, columns, channels)`` floats in [0, 1]; frames are RGB.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inrcli.errors import SignalReadError, UsageError
from inrcli.signals.base import (LOCAL_FIRST_FREQUENCY, DecodePlan, MetricSpec, Preset, Signal, SignalKind,
                                 first_line, parse_size, require, scaled_shape)
from inrcli.signals.image import ImageKind, quantize
from inrcli.limits import DecodeBudget

FRAME_EXTENSIONS = {"png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"}
CODECS = {"mp4": "libx264", "m4v": "libx264", "mov": "libx264", "mkv": "libx264", "avi": "mpeg4", "webm": "libvpx-vp9"}
DEFAULT_FPS = 25.0
MAX_SIDE = {"libx264": 16384, "mpeg4": 8191, "libvpx-vp9": 65536}  # the encoders' own limits, measured


class VideoKind(SignalKind):
    name = "video"
    axes = 3
    extendable = True
    batchable = True
    default_output = "mp4"
    frame_kind = "image"
    presets = {"*": Preset(lr=2e-3, sample_fraction=1 / 32)}
    # A global branch of 10% of the budget (width ~115 for realshort) costs most of every step:
    # width 32 trains 6× more steps in the same time (realshort, 300 s: 28.5 → 33.0 dB).
    presets["lg-siren"] = presets["*"].with_model(partition_size=(8, 32, 32), global_width=32,
                                                  local_frequency=LOCAL_FIRST_FREQUENCY)
    metric_specs = {"psnr": MetricSpec("PSNR", "dB", 2), "ssim": MetricSpec("SSIM", "", 4),
                    "worst_psnr": MetricSpec("worst-frame PSNR", "dB", 2)}
    decode_options = frozenset({"scale", "size", "fps", "frames"})

    def read(self, path: Path, ext: str) -> Signal:
        try:
            if path.is_dir():
                frames, fps = _read_frame_folder(path), DEFAULT_FPS
            elif ext == "gif":
                frames, fps = _read_gif(path)
            else:
                frames, fps = _read_ffmpeg(path)
        except (SignalReadError, UsageError):
            raise
        except Exception as exc:  # ffmpeg and Pillow report broken files in many ways
            raise SignalReadError(f"cannot read video {path.name}: {first_line(exc)}") from None
        if frames.shape[0] == 0:
            raise SignalReadError(f"video {path.name} has no frames")
        values = frames.astype(np.float32)
        values /= 255.0
        return Signal(self.name, values, {"fps": float(fps), "bit_depth": 8})

    def check_info(self, info: dict) -> None:
        require(info, "fps", (int, float), 1e-3, 1000)
        require(info, "bit_depth", int, choices={8, 16}, optional=True)

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        frames = quantize(signal.values, 8)
        fps = float(signal.info.get("fps", DEFAULT_FPS))
        if ext == "gif":
            import imageio.v3 as iio

            iio.imwrite(path, frames, extension=".gif", plugin="pillow", duration=1000.0 / fps, loop=0)
            return
        _write_ffmpeg(path, ext, frames, fps, options.get("quality"))

    def normalization(self, signal: Signal) -> tuple[float, float]:
        return 0.5, 0.5

    def default_budget(self, signal: Signal) -> int:
        """0.15 parameters per pixel of the whole clip, between 20k and 1M."""
        return int(min(1_000_000, max(20_000, 0.15 * math.prod(signal.shape))))

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{shape[0]} frames of {shape[2]}×{shape[1]}"

    def rate_fields(self, info: dict) -> dict:
        return {"fps": info["fps"]}

    def rate_text(self, info: dict) -> str:
        return f" at {info['fps']:.3g} fps"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """Pictures by ``--scale``/``--size``, time by ``--fps`` or ``--frames`` (same duration)."""
        self.check_options(options, self.decode_options, "decodes")
        fps_asked, frames_asked = options.get("fps"), options.get("frames")
        if fps_asked is not None and frames_asked is not None:
            raise UsageError("give --fps or --frames, not both")
        shape, info = description.shape, description.info
        rows, cols = scaled_shape(shape[1:], options.get("scale"), parse_size(options.get("size"), 2))
        fps = float(info.get("fps", DEFAULT_FPS))
        if frames_asked is not None:
            count = frames_asked
        elif fps_asked is not None:
            if not 0 < fps_asked <= 1000:
                raise UsageError("--fps must be in (0, 1000]")
            count = max(1, round(shape[0] * fps_asked / fps))
        else:
            count = shape[0]
        if count < 1:
            raise UsageError("--frames must be positive")
        out_fps = fps_asked if fps_asked is not None else fps * count / shape[0]  # same duration
        return DecodePlan((count, rows, cols), {**info, "fps": float(out_fps)})

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        return Signal(self.name, np.clip(values, 0.0, 1.0, out=values), dict(plan.info))

    def frames(self, signal: Signal) -> list[Signal]:
        return [Signal("image", frame, {"bit_depth": 8}) for frame in signal.values]

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """Per-frame PSNR and SSIM of the 8-bit frames (as for images); mean and worst frame."""
        image = ImageKind()
        scores = [image.metrics(Signal("image", r, reference.info), Signal("image", c, candidate.info))
                  for r, c in zip(reference.values, candidate.values)]
        psnrs = np.array([s["psnr"] for s in scores])
        ssims = [s["ssim"] for s in scores if s["ssim"] is not None]
        worst = int(np.argmin(psnrs))
        return {"psnr": round(float(np.mean(psnrs)), 4), "ssim": round(float(np.mean(ssims)), 6) if ssims else None,
                "worst_frame": worst, "worst_psnr": round(float(psnrs[worst]), 4), "frames": len(scores),
                "convention": "mean over frames of the image PSNR (8-bit, peak 255) and SSIM "
                              "(Gaussian 11, σ 1.5, mean over channels); worst frame by PSNR"}


def _read_ffmpeg(path: Path) -> tuple[np.ndarray, float]:
    """Frames through ffmpeg, one at a time, counted against the decode budget: a stream whose
    header gives no duration (raw H.264 named .mp4) stops at the limit, not at the end of memory."""
    import imageio.v3 as iio

    meta = iio.immeta(path, plugin="FFMPEG")
    width, height = meta.get("size", (0, 0))
    fps = float(meta.get("fps") or DEFAULT_FPS)
    budget = DecodeBudget(path)
    frame_values = width * height * 3
    budget.expect(frame_values, f"frames of {width}×{height} pixels × 3 channels")
    duration = float(meta.get("duration") or 0)
    if math.isfinite(duration) and duration > 0:
        budget.expect(round(frame_values * fps * duration), f"{duration:g} s at {fps:g} fps of {width}×{height} × 3")
    frames = []
    for frame in iio.imiter(path, plugin="FFMPEG"):
        budget.take(frame.size, f"{len(frames) + 1} frames of {width}×{height} × 3 read so far")
        frames.append(frame)
    return (np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)), fps


def _read_gif(path: Path) -> tuple[np.ndarray, float]:
    """An animated GIF frame by frame (no header states the frame count), counted against the budget."""
    from PIL import Image, ImageSequence

    budget = DecodeBudget(path)
    with Image.open(path) as image:
        width, height = image.size
        budget.expect(width * height * 3, f"frames of {width}×{height} pixels × 3 channels")
        duration = image.info.get("duration") or 1000.0 / DEFAULT_FPS
        frames = []
        for frame in ImageSequence.Iterator(image):
            budget.take(width * height * 3, f"{len(frames) + 1} frames of {width}×{height} × 3 read so far")
            frames.append(np.asarray(frame.convert("RGB")))
    return np.stack(frames), 1000.0 / float(duration)


def _read_frame_folder(path: Path) -> np.ndarray:
    files = sorted(p for p in path.iterdir() if p.suffix.lower().lstrip(".") in FRAME_EXTENSIONS)
    if not files:
        raise SignalReadError(f"{path}: no image frames ({', '.join(sorted(FRAME_EXTENSIONS))}) in this folder")
    image, budget = ImageKind(), DecodeBudget(path)
    frames = []
    for file in files:
        frame = quantize(image.read(file, file.suffix.lower().lstrip(".")).values, 8)
        budget.take(frame[..., :1].size * 3, f"{len(frames) + 1} frames read so far")
        frames.append(frame)
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise SignalReadError(f"{path}: frames differ in size or channels ({len(shapes)} different shapes)")
    stacked = np.stack(frames)
    if stacked.shape[-1] == 1:
        stacked = np.repeat(stacked, 3, axis=-1)
    return stacked[..., :3]


def _write_ffmpeg(path: Path, ext: str, frames: np.ndarray, fps: float, quality) -> None:
    import imageio.v3 as iio

    height, width = frames.shape[1:3]
    codec = CODECS[ext]
    if max(height, width) > MAX_SIDE[codec]:  # ffmpeg would fail with a page of its own messages
        raise UsageError(f".{ext} ({codec}) frames are at most {MAX_SIDE[codec]} pixels on a side, these are "
                         f"{width}×{height}: decode with --size, or to .gif or numbered frames (-o frame_%04d.png)")
    # yuv420p (what players expect) needs even sizes; odd sizes keep full chroma instead of resizing
    pixel_format = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
    iio.imwrite(path, frames, plugin="FFMPEG", extension=f".{ext}", fps=fps, codec=codec,
                macro_block_size=1, pixelformat=pixel_format, quality=quality or 8,
                ffmpeg_log_level="error")
