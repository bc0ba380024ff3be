"""Volumes: 3-D grids of scalar or multi-channel values (CT/MRI scans, simulations, stacks).

Read and written as ``.npy`` (NumPy, never pickled), multi-page TIFF stacks (tifffile) and NIfTI
(``.nii``, ``.nii.gz``, nibabel).  Values stay in their own units (Hounsfield units, counts,
floats); the description keeps the sample type, the value range and, where the file has them,
the voxel spacing and NIfTI's voxel-to-world affine, so a decode writes the same kind of file back
and a decode at another resolution lands in the same place in the world.

The array's axes are kept in the file's order (NumPy and TIFF: slices, rows, columns; NIfTI:
i, j, k) and called depth × height × width; ``--size DxHxW`` is in that order.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inrcli import metrics
from inrcli.errors import InrFileError, SignalReadError, UsageError
from inrcli.limits import DecodeBudget
from inrcli.signals.base import (DecodePlan, MetricSpec, NotMyFile, Preset, Signal, SignalKind, first_line,
                                 parse_size, require, scaled_shape)

MAX_CHANNELS = 16
INTEGER_TYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32")
SAMPLE_TYPES = INTEGER_TYPES + ("float32", "float64")


class VolumeKind(SignalKind):
    name = "volume"
    axes = 3
    extendable = True
    batchable = True
    default_output = "npy"
    frame_kind = "image"
    # Probed on samples/phantom.nii.gz at 30 s (bench/RESULTS.md, "Volumes"): global width 16 and
    # 1/32 of the voxels per step (twice the steps) gave 32.70 dB against 31.15 with width 32 and 1/16.
    presets = {"*": Preset(lr=1e-3, sample_fraction=1 / 32)}
    presets["lg-siren"] = presets["*"].with_model(partition_size=32, global_width=16)
    metric_specs = {"psnr": MetricSpec("PSNR", "dB", 2), "ssim": MetricSpec("SSIM", "", 4),
                    "worst_slice_psnr": MetricSpec("worst-slice PSNR", "dB", 2)}
    decode_options = frozenset({"scale", "size"})

    def read(self, path: Path, ext: str) -> Signal:
        try:
            if ext == "npy":
                array, extra = _read_npy(path), {}
            elif ext in ("tif", "tiff"):
                array, extra = _read_tiff(path), {}
            else:
                array, extra = _read_nifti(path)
        except (SignalReadError, UsageError):
            raise
        except Exception as exc:  # numpy, tifffile and nibabel report broken files in many ways
            raise SignalReadError(f"cannot read volume {path.name}: {first_line(exc)}") from None
        return self.from_array(array, path.name, extra)

    def from_array(self, array: np.ndarray, name: str = "array", extra: dict | None = None) -> Signal:
        """A volume signal from a ``(D, H, W)`` or ``(D, H, W, C)`` array of numbers."""
        if array.ndim == 3:
            array = array[..., None]
        if array.ndim != 4 or min(array.shape[:3]) < 1 or not 1 <= array.shape[3] <= MAX_CHANNELS:
            raise SignalReadError(f"{name}: a volume is a (D, H, W) or (D, H, W, C≤{MAX_CHANNELS}) array, "
                                  f"not {array.shape}")
        dtype = array.dtype.name
        if dtype == "bool":
            array, dtype = array.astype(np.uint8), "uint8"
        if dtype not in SAMPLE_TYPES:
            raise SignalReadError(f"{name}: unsupported sample type {dtype} (supported: {', '.join(SAMPLE_TYPES)})")
        values = array.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise SignalReadError(f"{name}: the volume holds NaN or infinite values (or values beyond float32)")
        info = {"dtype": dtype, "low": float(values.min()), "high": float(values.max()), **(extra or {})}
        return Signal(self.name, values, info)

    def check_info(self, info: dict) -> None:
        require(info, "dtype", str, choices=set(SAMPLE_TYPES))
        require(info, "low", (int, float), -1e30, 1e30)
        require(info, "high", (int, float), -1e30, 1e30)
        spacing = info.get("spacing")
        if spacing is not None and not _finite_numbers(spacing, 3):
            raise InrFileError("volume metadata 'spacing' is not three finite numbers")
        affine = info.get("affine")
        if affine is not None and not (isinstance(affine, list) and len(affine) == 4
                                       and all(_finite_numbers(row, 4) for row in affine)):
            raise InrFileError("volume metadata 'affine' is not a 4×4 matrix of finite numbers")

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        array = _to_sample_type(signal.values, signal.info.get("dtype", "float32"))
        if array.shape[-1] == 1:
            array = array[..., 0]
        if ext == "npy":
            with open(path, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
        elif ext in ("tif", "tiff"):
            import tifffile

            # one page per slice; channels, if any, interleaved within each page
            contig = {"planarconfig": "contig"} if array.ndim == 4 else {}
            tifffile.imwrite(path, array, photometric="minisblack", **contig)
        else:
            _write_nifti(path, ext, array, signal.info)

    def frames(self, signal: Signal) -> list[Signal]:
        """Slices along the first axis as pictures, each scaled from the volume's value range."""
        low, high = signal.info.get("low", 0.0), signal.info.get("high", 1.0)
        span = (high - low) or 1.0
        channels = signal.values.shape[-1]
        if channels not in (1, 3):
            raise UsageError(f"a volume of {channels} channels cannot be written as picture slices; write .npy")
        return [Signal("image", np.clip((plane - low) / span, 0, 1), {"bit_depth": 16}) for plane in signal.values]

    def normalization(self, signal: Signal) -> tuple[float, float]:
        low, high = signal.info["low"], signal.info["high"]
        return (low + high) / 2, max((high - low) / 2, 1e-12)

    def default_budget(self, signal: Signal) -> int:
        """0.15 parameters per voxel, between 20k and 2M (~315k for 128³)."""
        return int(min(2_000_000, max(20_000, 0.15 * math.prod(signal.shape))))

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{'×'.join(map(str, shape))} voxels"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """``--scale`` or ``--size DxHxW``; the output covers the same extent in the world."""
        self.check_options(options, self.decode_options, "decodes")
        shape = scaled_shape(description.shape, options.get("scale"), parse_size(options.get("size"), 3))
        info = dict(description.info)
        factors = [old / new for old, new in zip(description.shape, shape)]  # new voxel size in old voxels
        if info.get("spacing") is not None:
            info["spacing"] = [s * f for s, f in zip(info["spacing"], factors)]
        if info.get("affine") is not None:
            info["affine"] = _resampled_affine(info["affine"], factors, [lo for lo, _ in description.window])
        return DecodePlan(shape, info)

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        if plan.info["dtype"] in INTEGER_TYPES:  # an integer scan cannot leave its type's range
            info = np.iinfo(plan.info["dtype"])
            np.clip(values, info.min, info.max, out=values)
        return Signal(self.name, values, dict(plan.info))

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """PSNR over the volume and per slice (peak = the reference's value range); SSIM per slice."""
        ref, cand = reference.values, candidate.values
        low, high = float(ref.min()), float(ref.max())
        peak = (high - low) or 1.0
        result = {"psnr": round(metrics.psnr(ref, cand, peak), 4)}
        if quick:
            return result
        slice_psnrs = np.array([metrics.psnr(r, c, peak) for r, c in zip(ref, cand)])
        ssims = [metrics.ssim(r - low, c - low, peak) for r, c in zip(ref, cand)]
        ssims = [s for s in ssims if s is not None]
        worst = int(np.argmin(slice_psnrs))
        result |= {"ssim": round(float(np.mean(ssims)), 6) if ssims else None,
                   "slice_psnr": round(float(np.mean(slice_psnrs[np.isfinite(slice_psnrs)])), 4)
                   if np.isfinite(slice_psnrs).any() else math.inf,
                   "worst_slice": worst, "worst_slice_psnr": round(float(slice_psnrs[worst]), 4),
                   "convention": f"PSNR over all voxels and channels with peak = the reference's value range "
                                 f"({peak:g}); slice_psnr = mean over slices along the first axis, worst slice by "
                                 f"PSNR; SSIM = mean over those slices (Gaussian 11, σ 1.5, same peak)"}
        return result


def _finite_numbers(values, count: int) -> bool:
    return (isinstance(values, list) and len(values) == count and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


def _check_size(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse, from the header alone, a volume over the decode budget (docs/SECURITY.md)."""
    DecodeBudget(path).expect(math.prod(shape), "a volume of " + "×".join(map(str, shape)))


def _read_npy(path: Path) -> np.ndarray:
    """An .npy array, its size checked from the header before the data is read; never unpickled
    (a memory map reads the header only, and refuses object arrays without ``allow_pickle``)."""
    mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    if not isinstance(mapped, np.ndarray):
        raise SignalReadError(f"{path.name} is not a single NumPy array")
    _check_size(path, mapped.shape)
    return np.array(mapped)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        series = tiff.series[0]
        _check_size(path, tuple(series.shape))
        array = series.asarray()
    if array.ndim == 2:
        raise NotMyFile(f"{path.name} is a single picture, not a stack of slices")
    return array


def _read_nifti(path: Path) -> tuple[np.ndarray, dict]:
    import nibabel

    image = nibabel.load(str(path))
    shape = tuple(int(n) for n in image.shape)
    _check_size(path, shape)
    if len(shape) == 4 and shape[3] > MAX_CHANNELS:
        raise SignalReadError(f"{path.name} has {shape[3]} volumes; inr encodes up to {MAX_CHANNELS} channels")
    array = np.asanyarray(image.dataobj)  # raw samples; a scaled file gives floats
    spacing = [float(z) for z in image.header.get_zooms()[:3]]
    affine = [[float(v) for v in row] for row in image.affine]
    return array, {"spacing": spacing, "affine": affine}


def _to_sample_type(values: np.ndarray, dtype: str) -> np.ndarray:
    """Values in the volume's own sample type: integers rounded and clipped to their range."""
    if dtype in INTEGER_TYPES:
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def _write_nifti(path: Path, ext: str, array: np.ndarray, info: dict) -> None:
    import nibabel

    affine = np.array(info["affine"]) if info.get("affine") is not None else np.diag(info.get("spacing", [1.0] * 3) + [1.0])
    # nibabel picks compression from the name; temporary outputs keep the target's ending
    nibabel.save(nibabel.Nifti1Image(array, affine), str(path))


def _resampled_affine(affine: list, factors: list[float], origin: list[int]) -> list:
    """The voxel-to-world affine of a decode whose voxels are ``factors`` old voxels wide and whose
    first voxel's corner sits at old voxel index ``origin`` (the window of a cropped file).

    New voxel centre ``i`` lies at old index ``origin + (i + 0.5) · factor − 0.5``."""
    old = np.array(affine, dtype=np.float64)
    index_map = np.eye(4)
    for axis, (factor, start) in enumerate(zip(factors, origin)):
        index_map[axis, axis] = factor
        index_map[axis, 3] = start + 0.5 * factor - 0.5
    return (old @ index_map).tolist()
