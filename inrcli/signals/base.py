"""The in-memory signal every reader produces and every writer consumes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Signal:
    """A signal sampled on a regular grid.

    Attributes:
        modality: registry name, e.g. ``"image"``.
        values: ``(*shape, C)`` float32 in natural units (images: 0…1 per channel).
        info: modality-specific description that writers need (e.g. ``bit_depth``); JSON-able.
    """

    modality: str
    values: np.ndarray
    info: dict = field(default_factory=dict)
    attachments: dict = field(default_factory=dict)
    """In-memory extras that are never stored, e.g. the mesh behind a shape's occupancy grid."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Samples per axis, without the channel axis."""
        return tuple(self.values.shape[:-1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])


class Modality:
    """What the rest of ``inr`` needs to know about one kind of signal.

    A modality is one module under ``inrcli/signals`` with a reader, a writer, metrics and
    defaults; ``inrcli.signals.MODALITIES`` lists them and ``EXTENSIONS`` maps file endings to them.
    """

    name: str = ""
    ndim: int = 0
    """Coordinate dimensions."""
    partition_size: int = 32
    """Automatic partitioning aims at partitions of about this many samples per axis."""
    first_w0: float = 30.0
    """First-layer frequency factor of the networks (see :meth:`first_frequency`)."""
    sample_fraction: float = 0.125
    """Share of each partition's samples drawn per training step."""
    learning_rate: float = 2e-3
    """Peak learning rate of Adam (cosine decay)."""
    global_fraction: float = 0.1
    """Share of the parameter budget for lg-siren's global branch and merge layer."""
    global_width: int | None = None
    """Fixed width of lg-siren's global branch (overrides ``global_fraction``)."""
    headline_metric: str = "psnr"
    network_peak: float = 2.0
    """Peak value of the PSNR convention, in network units (images: 1 in 0…1 = 2 in −1…1)."""

    def read(self, path, ext: str) -> Signal:
        raise NotImplementedError

    default_arch: str = "lg-siren"
    hidden_w0: float = 30.0
    """ω0 of the hidden layers (SIREN's 30)."""

    def check_info(self, info: dict) -> None:
        """Refuse a stored signal description this modality cannot use (raise ``InrFileError``)."""

    def coordinate_dims(self, info: dict) -> int:
        """Input dimensions of the network for a signal described by ``info``."""
        return self.ndim

    def extra_tensors(self, signal: Signal) -> dict:
        """Arrays the file stores besides the weights (name → array); none by default."""
        return {}

    def expected_extras(self, info: dict, channels: int) -> dict:
        """Name → (shape, safetensors dtype) of the extra arrays a valid file holds."""
        return {}

    def first_frequency(self, signal: Signal) -> float:
        """ω0 of the first layer for this signal; by default ``first_w0``."""
        return self.first_w0

    def write(self, signal: Signal, path, ext: str, options: dict) -> None:
        raise NotImplementedError

    def sampler(self, signal: Signal, targets, partitioning, fraction: float, seed: int):
        """Training batches: by default random samples of the gridded ``targets`` (network units)."""
        from inrcli.sampling import GridSampler

        return GridSampler(targets, partitioning, fraction, seed)

    def loss(self, signal: Signal) -> str:
        """Training loss: ``mse`` (default), ``bce`` (logits against 0/1) or ``l1``."""
        return "mse"

    def normalization(self, signal: Signal) -> tuple[float, float]:
        """``(offset, scale)`` so that network units are ``(values - offset) / scale`` in [-1, 1]."""
        raise NotImplementedError

    def default_budget(self, shape: tuple[int, ...], channels: int) -> int:
        raise NotImplementedError

    def output_shape(self, shape: tuple[int, ...], info: dict, request) -> tuple[tuple[int, ...], dict]:
        """Samples per axis of a decode of a window of ``shape`` samples, and the output's info.

        ``request`` is an :class:`inrcli.api.DecodeRequest` (scale, size, rate, fps, frames).
        """
        raise NotImplementedError

    def finish(self, values, info: dict) -> Signal:
        """Turn decoded natural-unit values ``(*shape, C)`` into a signal (clipping, etc.)."""
        raise NotImplementedError

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """Scores of ``candidate`` against ``reference``; ``quick`` asks only for the headline one."""
        raise NotImplementedError


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def scaled_shape(shape: tuple[int, ...], scale: float | None, size: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` times ``scale`` (rounded, at least 1), or exactly ``size``; rows first."""
    from inrcli.errors import UsageError

    if scale is not None and size is not None:
        raise UsageError("give --scale or --size, not both")
    if size is not None:
        if len(size) != len(shape) or min(size) < 1:
            raise UsageError(f"--size needs {len(shape)} positive numbers")
        return tuple(size)
    if scale is None:
        return tuple(shape)
    if not scale > 0 or not math.isfinite(scale):
        raise UsageError("--scale must be a positive number")
    return tuple(max(1, round(n * scale)) for n in shape)


def require(info: dict, key: str, kind, low=None, high=None, choices=None, optional: bool = False) -> None:
    """Check one field of untrusted signal metadata: its type, range or allowed values."""
    from inrcli.errors import InrFileError

    if key not in info:
        if optional:
            return
        raise InrFileError(f"signal metadata lacks {key!r}")
    value = info[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InrFileError(f"signal metadata {key!r} has the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise InrFileError(f"signal metadata {key!r} is not finite")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InrFileError(f"signal metadata {key!r} = {value} is out of range")
    if choices is not None and value not in choices:
        raise InrFileError(f"signal metadata {key!r} = {value!r} is not one of {sorted(choices)}")
