"""The in-memory signal every reader produces and every writer consumes."""

from __future__ import annotations

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
    """First-layer frequency factor of the networks."""
    sample_fraction: float = 0.125
    """Share of each partition's samples drawn per training step."""
    headline_metric: str = "psnr"

    def read(self, path, ext: str) -> Signal:
        raise NotImplementedError

    def write(self, signal: Signal, path, ext: str, options: dict) -> None:
        raise NotImplementedError

    def normalization(self, signal: Signal) -> tuple[float, float]:
        """``(offset, scale)`` so that network units are ``(values - offset) / scale`` in [-1, 1]."""
        raise NotImplementedError

    def default_budget(self, shape: tuple[int, ...], channels: int) -> int:
        raise NotImplementedError

    def finish(self, values, info: dict) -> Signal:
        """Turn decoded natural-unit values ``(*shape, C)`` into a signal (clipping, etc.)."""
        raise NotImplementedError

    def metrics(self, reference: Signal, candidate: Signal) -> dict:
        raise NotImplementedError
