"""Images: read and written through imageio (Pillow), 16-bit PNG through pypng.

Values are floats in [0, 1] per channel.  Channels are kept as stored: grey (1), grey +
alpha (2), RGB (3) or RGBA (4); alpha is a channel like any other.  Palette images are
expanded to RGB(A), CMYK/YCbCr/LAB to RGB, 1-bit to grey.  8- and 16-bit depths are kept.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inrcli import metrics
from inrcli.errors import InrError, SignalReadError, UsageError
from inrcli.signals.base import (LOCAL_FIRST_FREQUENCY, DecodePlan, MetricSpec, NotMyFile, Preset, Signal,
                                 SignalKind, first_line, parse_size, require, scaled_shape)
from inrcli.limits import DecodeBudget

CONVERT_TO_RGB = {"CMYK", "YCbCr", "LAB", "HSV"}
FLOAT_SLACK = 1e-3  # float pixels this far outside 0…1 are rounding, clipped; farther is another scale
EIGHT_BIT_ONLY = {"jpg", "jpeg", "bmp", "webp", "gif"}


class ImageKind(SignalKind):
    name = "image"
    axes = 2
    extendable = True
    batchable = True
    viewed_beside_original = True
    default_output = "png"
    # Measured on astronaut.png at 60 s (bench/RESULTS.md, issue 5): a narrow global branch
    # costs 16² instead of ~70² multiply-adds per sample and a step half the samples, so a
    # minute trains ~5× the steps of the published split (35.8 dB against 32.5 dB).
    presets = {"*": Preset(lr=1e-3, sample_fraction=1 / 16)}
    presets["lg-siren"] = presets["*"].with_model(partition_size=32, global_width=16,
                                                  local_frequency=LOCAL_FIRST_FREQUENCY)
    metric_specs = {"psnr": MetricSpec("PSNR", "dB", 2), "ssim": MetricSpec("SSIM", "", 4)}
    decode_options = frozenset({"scale", "size"})

    def read(self, path: Path, ext: str) -> Signal:
        if ext in ("tif", "tiff") and _tiff_pages(path) > 1:
            raise NotMyFile(f"{path.name} holds several pages (a volume, not an image)")
        try:
            if ext == "png" and _png_bit_depth(path) == 16:
                array = _read_png16(path)
            else:
                array = _read_pillow(path)
        except InrError:
            raise
        except Exception as exc:  # imageio/Pillow raise many types for corrupt data
            raise SignalReadError(f"cannot read image {path.name}: {first_line(exc)}") from None
        values, bits = _to_float(array)
        if min(values.shape[:2]) < 1:
            raise SignalReadError(f"image {path.name} has no pixels ({values.shape[1]}×{values.shape[0]})")
        return Signal(self.name, values, {"bit_depth": bits})

    def check_info(self, info: dict) -> None:
        require(info, "bit_depth", int, choices={8, 16}, optional=True)

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        bits = options.get("bit_depth") or signal.info.get("bit_depth", 8)
        if ext in EIGHT_BIT_ONLY:
            if options.get("bit_depth") == 16:
                raise UsageError(f".{ext} holds 8 bits per channel; use .png or .tiff for 16-bit output")
            bits = 8
        values = signal.values
        if ext in ("jpg", "jpeg") and values.shape[-1] in (2, 4):
            values = _flatten_alpha(values)  # JPEG has no alpha: composite over white, as image editors do
        array = quantize(values, bits)
        if array.shape[-1] == 1:
            array = array[..., 0]
        if bits == 16 and ext == "png":
            _write_png16(path, array)
        elif ext in ("tif", "tiff"):
            import tifffile

            tifffile.imwrite(path, array, photometric="minisblack" if array.ndim == 2 else "rgb")
        else:
            import imageio.v3 as iio  # here, not at the top: `inr info` needs the kind, not its codecs

            kwargs = {"quality": int(options.get("quality") or 95)} if ext in ("jpg", "jpeg") else {}
            iio.imwrite(path, array, extension=f".{ext}", plugin="pillow", **kwargs)

    def normalization(self, signal: Signal) -> tuple[float, float]:
        return 0.5, 0.5

    def default_budget(self, signal: Signal) -> int:
        """About 200k parameters for 512×512, in proportion to the pixel count."""
        return int(min(5_000_000, max(4_000, 200_000 * math.prod(signal.shape) / 512 ** 2)))

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{shape[1]}×{shape[0]}"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        self.check_options(options, self.decode_options, "decodes")
        size = parse_size(options.get("size"), 2)
        return DecodePlan(scaled_shape(description.shape, options.get("scale"), size), dict(description.info))

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        return Signal(self.name, np.clip(values, 0.0, 1.0, out=values), dict(plan.info))

    def error_map(self, reference: Signal, candidate: Signal, edges) -> Signal:
        """Per-pixel error with the partition grid and each partition's PSNR (8-bit picture)."""
        from inrcli import errormap

        bits = reference.info.get("bit_depth", 8)
        picture = errormap.render(quantize(reference.values, bits), quantize(candidate.values, bits),
                                  2.0 ** bits - 1, edges)
        return Signal(self.name, picture.astype(np.float32) / 255.0, {"bit_depth": 8})

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """PSNR and SSIM on the integer pixel values at the reference's bit depth."""
        bits = reference.info.get("bit_depth", 8)
        peak = float(2 ** bits - 1)
        ref, cand = quantize(reference.values, bits), quantize(candidate.values, bits)
        return {"psnr": round(metrics.psnr(ref, cand, peak), 4),
                "ssim": _rounded(metrics.ssim(ref, cand, peak)),
                "convention": f"PSNR over all pixels and channels of the {bits}-bit values, peak {peak:g}; "
                              f"SSIM with an 11-tap Gaussian window (σ 1.5), mean over channels"}


def quantize(values: np.ndarray, bits: int) -> np.ndarray:
    """Floats in [0, 1] → unsigned integers of ``bits`` bits, rounding to nearest.

    Works through ``values`` in slabs of rows so that a huge image needs no float temporaries
    of its own size.
    """
    peak = np.float32(2 ** bits - 1)
    out = np.empty(values.shape, dtype=np.uint8 if bits == 8 else np.uint16)
    rows = max(1, (1 << 22) // max(1, values[0].size))
    for start in range(0, values.shape[0], rows):
        block = np.clip(values[start:start + rows], 0.0, 1.0) * peak
        out[start:start + rows] = np.rint(block, out=block)
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _read_pillow(path: Path) -> np.ndarray:
    """The first picture of a file Pillow reads, its size checked from the header first.

    Pillow decodes into a buffer of the header's size, so data that would inflate past it is
    never produced."""
    width, height, channels, mode = _header_size(path)
    DecodeBudget(path).expect(width * height * channels, f"{width}×{height} pixels × {channels} channels")
    import imageio.v3 as iio

    if mode in CONVERT_TO_RGB:
        return iio.imread(path, plugin="pillow", index=0, mode="RGB")
    if mode == "1":
        return iio.imread(path, plugin="pillow", index=0, mode="L")
    return iio.imread(path, plugin="pillow", index=0)


def _header_size(path: Path) -> tuple[int, int, int, str]:
    """Width, height, channels after inr's conversions, and mode, from the header alone (Pillow
    opens lazily): no pixel is decoded.

    Pillow's own bomb guard is lifted for this one call so that we, not an obscure plugin
    error, tell the user the size."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            mode = image.mode
            channels = 3 if mode in CONVERT_TO_RGB else 4 if mode in ("P", "PA") else len(image.getbands())
            return image.size[0], image.size[1], channels, mode
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _to_float(array: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer or float pixels → ``(H, W, C)`` float32 in [0, 1] and the bit depth."""
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or not 1 <= array.shape[-1] <= 4:
        raise SignalReadError(f"unsupported image layout {array.shape}")
    if array.dtype == np.uint8 or array.dtype == bool:
        return array.astype(np.float32) / (1.0 if array.dtype == bool else 255.0), 8
    if array.dtype in (np.uint16, np.int32, np.uint32, np.int16):
        _check_range(array, 0, 65535, "integer images are stored as 0…65535")
        return array.astype(np.float32) / 65535.0, 16
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise SignalReadError("image holds NaN or infinite values")
        _check_range(array, -FLOAT_SLACK, 1 + FLOAT_SLACK, "float images must lie in 0…1")
        return np.clip(array, 0.0, 1.0).astype(np.float32), 16
    raise SignalReadError(f"unsupported pixel type {array.dtype}")


def _check_range(array: np.ndarray, low: float, high: float, rule: str) -> None:
    """Refuse pixels that clipping would silently change (a float TIFF of 0…255, negative integers)."""
    least, most = array.min(), array.max()
    if least < low or most > high:
        raise SignalReadError(f"image values span {least:g}…{most:g}; {rule}, and inr does not guess a scale "
                              f"(for data in other units, save it as a volume or rescale it)")


def _flatten_alpha(values: np.ndarray) -> np.ndarray:
    colour, alpha = values[..., :-1], values[..., -1:]
    return colour * alpha + (1.0 - alpha)


def _tiff_pages(path: Path) -> int:
    """Pages of a TIFF file (0 if tifffile cannot parse it; Pillow then reports the error)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            return len(tiff.pages)
    except Exception:  # a damaged file: let the image reader name the problem
        return 0


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as handle:
        head = handle.read(26)
    return head[24] if len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" else 8


def _read_png16(path: Path) -> np.ndarray:
    """A 16-bit PNG through pypng, after its size and its compressed data are checked: pypng
    inflates each IDAT chunk whole, so a chunk that inflates past the declared size is refused
    by a bounded inflate first."""
    import png

    width, height, planes, interlaced = _png_header(path)
    DecodeBudget(path).expect(width * height * planes, f"{width}×{height} pixels × {planes} channels")
    # filter bytes: one per row, and per row of each of Adam7's seven passes when interlaced
    _check_png_inflate(path, height * width * planes * 2 + height * (2 if interlaced else 1) + 64)
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    return np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)


PNG_PLANES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type


def _png_header(path: Path) -> tuple[int, int, int, bool]:
    """Width, height, channels and interlacing from a PNG's IHDR chunk."""
    with open(path, "rb") as handle:
        head = handle.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise SignalReadError(f"cannot read image {path.name}: no PNG header")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[25] not in PNG_PLANES:
        raise SignalReadError(f"cannot read image {path.name}: unknown PNG colour type {head[25]}")
    return width, height, PNG_PLANES[head[25]], head[28] == 1


def _check_png_inflate(path: Path, most: int) -> None:
    """Inflate the IDAT stream in bounded pieces; refuse it once it passes ``most`` bytes."""
    import zlib

    inflater, produced = zlib.decompressobj(), 0
    with open(path, "rb") as handle:
        handle.seek(8)
        while len(header := handle.read(8)) == 8:
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            data = handle.read(length)
            handle.seek(4, 1)  # CRC
            if kind == b"IEND":
                break
            if kind != b"IDAT":
                continue
            while data:
                try:
                    produced += len(inflater.decompress(data, 1 << 20))
                except zlib.error as exc:
                    raise SignalReadError(f"cannot read image {path.name}: {exc}") from None
                if produced > most:
                    raise SignalReadError(f"{path.name}: its compressed pixels inflate past the {most:,} bytes "
                                          f"its header declares (a decompression bomb?)")
                data = inflater.unconsumed_tail


def _write_png16(path: Path, array: np.ndarray) -> None:
    import png

    height, width = array.shape[:2]
    planes = 1 if array.ndim == 2 else array.shape[2]
    writer = png.Writer(width, height, greyscale=planes in (1, 2), alpha=planes in (2, 4), bitdepth=16)
    with open(path, "wb") as handle:
        writer.write(handle, array.reshape(height, width * planes))

