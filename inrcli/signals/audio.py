"""Audio: WAV (integer and float), FLAC and OGG/Vorbis through soundfile.

Values are floats per channel as soundfile reads them (full scale ±1); channels are outputs of
one network.  The file stores the sample rate and the value scale (the largest magnitude), so a
decode restores the original level.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inrcli import metrics
from inrcli.errors import SignalReadError, UsageError
from inrcli.signals.base import Modality, Signal, first_line, require

FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
DEFAULT_SUBTYPE = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}
MAX_SAMPLES = 1 << 31


class AudioModality(Modality):
    name = "audio"
    ndim = 1
    # Small partitions keep the local networks narrow (cheap per sample) and 1/32 of each per step
    # buys ~7× the steps: gt_bach at 60 s 40.8 dB against 35.2 with 8192 samples and 1/8 (bench/RESULTS.md)
    partition_size = 2048
    first_w0 = 3000.0  # SIREN's audio network: coordinates over ±100 with ω0 = 30, for a 7 s clip
    reference_seconds = 7.0
    sample_fraction = 1 / 32
    learning_rate = 5e-4  # the ω0 = 3000 first layer makes steps of 2e-3 diverge
    global_width = 16  # gt_bach at 60 s: 36.9 dB against 34.5 with a 10% global branch (bench/RESULTS.md)
    network_peak = 1.0  # PSNR on the signal divided by its largest magnitude, peak 1 (Local-Global paper)

    def read(self, path: Path, ext: str) -> Signal:
        import soundfile

        try:
            info = soundfile.info(str(path))
            if info.frames * info.channels > MAX_SAMPLES:
                raise SignalReadError(f"{path.name} has {info.frames} frames × {info.channels} channels; too long")
            values, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except SignalReadError:
            raise
        except Exception as exc:  # libsndfile reports corrupt data as several error types
            raise SignalReadError(f"cannot read audio {path.name}: {first_line(exc)}") from None
        if values.shape[0] == 0:
            raise SignalReadError(f"audio {path.name} has no samples")
        if not np.all(np.isfinite(values)):
            raise SignalReadError(f"audio {path.name} holds NaN or infinite samples")
        return Signal(self.name, values, {"rate": int(rate), "subtype": info.subtype, "format": info.format})

    def check_info(self, info: dict) -> None:
        require(info, "rate", int, 1, 10_000_000)
        require(info, "subtype", str, optional=True)
        require(info, "format", str, optional=True)

    def first_frequency(self, signal: Signal) -> float:
        """SIREN's ω0 = 3000 fits its 7-second clips: the same frequency *per second* suits any
        length, so the first-layer factor scales with the duration (never below 30)."""
        seconds = signal.shape[0] / float(signal.info["rate"])
        return max(30.0, self.first_w0 * seconds / self.reference_seconds)

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        import soundfile

        rate = int(signal.info["rate"])
        subtype = options.get("subtype") or _subtype_for(ext, signal.info)
        values = signal.values if subtype in ("FLOAT", "DOUBLE") else np.clip(signal.values, -1.0, 1.0)
        if ext == "ogg" and rate > 192_000:
            raise UsageError("OGG/Vorbis supports rates up to 192 kHz; write .wav or .flac")
        soundfile.write(str(path), values, rate, subtype=subtype, format=FORMATS[ext])

    def normalization(self, signal: Signal) -> tuple[float, float]:
        peak = float(np.abs(signal.values).max())
        return 0.0, peak if peak > 0 else 1.0

    def default_budget(self, shape: tuple[int, ...], channels: int) -> int:
        """About 0.65 parameters per sample: ~200k for SIREN's 7-second Bach clip."""
        return int(min(2_000_000, max(8_000, 0.65 * math.prod(shape))))

    def output_shape(self, shape: tuple[int, ...], info: dict, request) -> tuple[tuple[int, ...], dict]:
        if any(v is not None for v in (request.size, request.fps, request.frames, request.resolution)):
            raise UsageError("audio decodes take --rate or --scale")
        if request.rate is not None and request.scale is not None:
            raise UsageError("give --rate or --scale, not both")
        rate = info["rate"]
        if request.rate is not None:
            if request.rate < 1 or request.rate > 10_000_000:
                raise UsageError("--rate must be between 1 Hz and 10 MHz")
            factor = request.rate / rate
        else:
            factor = request.scale if request.scale is not None else 1.0
        if not factor > 0:
            raise UsageError("--scale must be positive")
        length = max(1, round(shape[0] * factor))
        # the output covers the same duration: the rate follows the number of samples
        out_rate = request.rate if request.rate is not None else max(1, round(rate * length / shape[0]))
        return (length,), {**info, "rate": int(out_rate)}

    def finish(self, values: np.ndarray, info: dict) -> Signal:
        return Signal(self.name, values, dict(info))

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """PSNR (peak 1 on both signals divided by the reference's largest magnitude) and SNR."""
        scale = float(np.abs(reference.values).max()) or 1.0
        ref, cand = reference.values / scale, candidate.values / scale
        noise = float(np.sum((ref.astype(np.float64) - cand) ** 2))
        snr = 10 * math.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise) if noise > 0 else math.inf
        return {"psnr": round(metrics.psnr(ref, cand, 1.0), 4), "snr": round(snr, 4),
                "convention": "PSNR with peak 1 on both signals divided by the reference's largest magnitude "
                              "(as in the Local-Global INR paper); SNR = 10·log10(Σref² / Σ(ref−cand)²)"}


def _subtype_for(ext: str, info: dict) -> str:
    """Keep the input's sample format where the container allows it."""
    import soundfile

    subtype = info.get("subtype")
    if subtype and soundfile.check_format(FORMATS[ext], subtype):
        return subtype
    return DEFAULT_SUBTYPE[ext]

