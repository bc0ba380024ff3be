"""Audio: WAV (integer and float), FLAC and OGG/Vorbis through soundfile.

Values are floats per channel as soundfile reads them (full scale ±1); channels are outputs of
one network.  The file stores the sample rate and the value scale (the largest magnitude), so a
decode restores the original level.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from inrcli import metrics
from inrcli.errors import SignalReadError, UsageError
from inrcli.signals.base import (LOCAL_FIRST_FREQUENCY, DecodePlan, MetricSpec, Preset, Signal, SignalKind, first_line,
                                 require)
from inrcli.limits import DecodeBudget

FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
DEFAULT_SUBTYPE = {"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}
BLOCK_FRAMES = 1 << 16


class AudioKind(SignalKind):
    name = "audio"
    axes = 1
    extendable = True
    batchable = True
    default_output = "wav"
    # 9 bits, a quarter of the float32 file: with sine biases stored within one period and the
    # first layers (ω0 = 3000) as float32, gt_bach (1,000 steps) loses 0.005 dB and chime (2,000)
    # 0.11 dB; at 8 bits chime loses 0.54 (bench/RESULTS.md, "Coded audio").
    default_bits = 9
    # Small partitions keep the local networks narrow (cheap per sample) and 1/32 of each per step
    # buys ~7× the steps: gt_bach at 60 s 40.8 dB against 35.2 with 8192 samples and 1/8 (bench/RESULTS.md).
    # lr: the ω0 = 3000 first layer makes steps of 2e-3 diverge.  SIREN's audio network has
    # coordinates over ±100 with ω0 = 30 for a 7 s clip, i.e. a first-layer ω0 of 3000.
    presets = {"*": Preset(lr=5e-4, sample_fraction=1 / 32, first_w0=3000.0)}
    # global width 16: gt_bach at 60 s 36.9 dB against 34.5 with a 10% global branch (bench/RESULTS.md)
    # The local first layers start at LOCAL_FIRST_FREQUENCY (0.35 rad per sample, ~2.4 kHz at
    # 44.1 kHz); the global branch then serves the slow part of the signal and does best at first_w0
    # 1500 per 7 s of clip, half SIREN's 3000 (gt_bach at 60 s: 300 41.9, 750 46.6, 1000 48.2,
    # 1500 48.2, 2000 48.0, 3000 46.3, 7500 44.3 dB; bench/first_layer.py, bench/RESULTS.md,
    # "The local first layer's frequency").
    presets["lg-siren"] = replace(presets["*"], first_w0=1500.0).with_model(
        partition_size=2048, global_width=16, local_frequency=LOCAL_FIRST_FREQUENCY)
    reference_seconds = 7.0
    network_peak = 1.0  # PSNR on the signal divided by its largest magnitude, peak 1 (Local-Global paper)
    metric_specs = {"psnr": MetricSpec("PSNR", "dB", 2), "snr": MetricSpec("SNR", "dB", 2)}
    decode_options = frozenset({"scale", "rate"})

    def read(self, path: Path, ext: str) -> Signal:
        import soundfile

        try:
            info = soundfile.info(str(path))
            values, rate = _read_blocks(path, info)
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

    def first_frequency(self, signal: Signal, preset: Preset) -> float:
        """The preset's ω0 is for a 7-second clip (SIREN's 3000 for its 7-second clips; 1500 for
        lg-siren, whose local first layers start higher): the same frequency *per second* suits
        any length, so the first-layer factor scales with the duration (never below 30)."""
        seconds = signal.shape[0] / float(signal.info["rate"])
        return max(30.0, preset.first_w0 * seconds / self.reference_seconds)

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

    def default_budget(self, signal: Signal) -> int:
        """About 0.65 parameters per sample: ~200k for SIREN's 7-second Bach clip."""
        return int(min(2_000_000, max(8_000, 0.65 * math.prod(signal.shape))))

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{shape[0]} samples"

    def rate_fields(self, info: dict) -> dict:
        return {"rate": info["rate"]}

    def rate_text(self, info: dict) -> str:
        return f" at {info['rate']} Hz"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """``--rate`` (Hz) or ``--scale``; the output covers the same duration either way."""
        self.check_options(options, self.decode_options, "decodes")
        rate, scale = options.get("rate"), options.get("scale")
        if rate is not None and scale is not None:
            raise UsageError("give --rate or --scale, not both")
        stored = description.info["rate"]
        if rate is not None:
            if not 1 <= rate <= 10_000_000:
                raise UsageError("--rate must be between 1 Hz and 10 MHz")
            factor = rate / stored
        else:
            factor = scale if scale is not None else 1.0
        if not factor > 0:
            raise UsageError("--scale must be positive")
        samples = description.shape[0]
        length = max(1, round(samples * factor))
        # the output covers the same duration: the rate follows the number of samples
        out_rate = rate if rate is not None else max(1, round(stored * length / samples))
        return DecodePlan((length,), {**description.info, "rate": int(out_rate)})

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """PSNR (peak 1 on both signals divided by the reference's largest magnitude) and SNR."""
        scale = float(np.abs(reference.values).max()) or 1.0
        ref, cand = reference.values / scale, candidate.values / scale
        noise = float(np.sum((ref.astype(np.float64) - cand) ** 2))
        energy = float(np.sum(ref.astype(np.float64) ** 2))
        # silence against anything but silence has no signal to speak of: -inf dB, shown as null in JSON
        snr = math.inf if noise == 0 else 10 * math.log10(energy / noise) if energy > 0 else -math.inf
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



def _read_blocks(path: Path, info) -> tuple[np.ndarray, int]:
    """``(frames, channels)`` float32 samples read in blocks: memory follows the samples actually
    in the file, never the frame count a header claims (a FLAC header may state 2³⁶ frames)."""
    import soundfile

    budget = DecodeBudget(path)
    budget.expect(info.frames * info.channels, f"{info.frames:,} frames × {info.channels} channels")
    blocks = []
    with soundfile.SoundFile(str(path)) as sound:
        while len(block := sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True)):
            budget.take(block.size, f"{sum(len(b) for b in blocks) + len(block):,} frames read so far")
            blocks.append(block)
        rate = sound.samplerate
    if not blocks:
        return np.zeros((0, info.channels), np.float32), rate
    return (blocks[0] if len(blocks) == 1 else np.concatenate(blocks)), rate
