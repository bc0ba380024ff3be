"""Quantised weights (issue 14): a uniform grid per tensor, and rounding to it during training.

A tensor quantised to ``bits`` stores integers ``q`` in ``0 … 2^bits − 1`` and one grid, its
``offset`` (the smallest weight) and ``step`` ((largest − smallest) / (2^bits − 1)), both float32
numbers. A tensor's bits are the file's (``--bits``) plus what its place in a SIREN asks for
(:func:`tensor_bits`). A weight is ``float32(offset + q · step)`` computed in float64 — exact in any language
with IEEE doubles (``q · step`` needs at most 16 + 24 bits), so Python, numpy and the browser
dequantise to the same float32 bits. A Local-Global file shares one grid per tensor among all its
partitions: a crop keeps the grid, so the kept partitions' integers (and bytes) do not change.

No torch at import: :func:`rounded_weights` imports it when training asks for it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

MIN_BITS, MAX_BITS = 2, 16
FLOAT_BITS = 32
"""``--bits 32``: weights stored as floats (``--dtype``), as before issue 14."""
HIGH_BITS = 4
"""Integers of more bits are coded as their top 4 bits (against a stored histogram of 16 counts)
and the rest (uniform): on trained weights the low bits are nearly uniform, and a finer histogram
costs more bytes than it saves (bench/RESULTS.md, "Compact files")."""


FIRST_LAYER_EXTRA_BITS = 4
BIAS_EXTRA_BITS = 2
"""A sine layer computes sin(ω0 (W x + b)) with ω0 = 30 or more: an error e in a first-layer weight
or any bias moves a phase by ω0 · e over the whole signal, where an error in a hidden weight is
averaged over its inputs. Measured on chelsea.png (8 bits, no fine-tuning): the first layer alone
costs 2.3 dB, every hidden weight matrix under 0.1 dB; +4 bits for the first layer and +2 for
biases (8.36 bits per weight on average) lose 0.22 dB where a flat 8 bits loses 3.7 dB."""
HIDDEN_W0 = 30.0
"""The ω0 that ``FIRST_LAYER_EXTRA_BITS`` was measured at: a first layer of a larger ω0 (audio's
3000) turns the same grid step into a larger phase error, and gets one more bit per doubling.
Measured on chime.wav (300 steps, 8 bits): the first layer at 12 bits 18.02 dB, at 16 bits
23.58 dB, float32 23.84 dB."""


def tensor_bits(bits: int, name: str, first_w0: float | None) -> int:
    """The bits of tensor ``name`` in a file of ``bits``: more for phases that ω0 multiplies.
    ``first_w0`` is the ω0 of the first sine layer the tensor belongs to, None for any other."""
    if first_w0 is not None:
        extra = FIRST_LAYER_EXTRA_BITS + max(0, math.ceil(math.log2(first_w0 / HIDDEN_W0) - 1e-9))
    else:
        extra = BIAS_EXTRA_BITS if name.endswith("bias") else 0
    return min(MAX_BITS, bits + extra)


@dataclass(frozen=True)
class Grid:
    """The values a quantised tensor can take: ``offset + q · step``, ``q`` in ``0 … 2^bits − 1``."""

    bits: int
    offset: float
    """A float32 number (stored as the float64 that equals it)."""
    step: float
    """A float32 number > 0."""

    @classmethod
    def fit(cls, values: np.ndarray, bits: int) -> Grid:
        """The grid of ``bits`` spanning ``values`` (any shape) from their smallest to their largest."""
        if not values.size:
            return cls(bits, 0.0, float(np.float32(1e-6)))
        offset, step = _grid_spans(values.reshape(1, -1), bits)
        return cls(bits, float(offset[0]), float(step[0]))

    def quantise(self, values: np.ndarray) -> np.ndarray:
        """``values`` (any shape) → nearest grid integers, int64, clipped to the grid."""
        return _nearest(values, self.offset, self.step, self.bits).astype(np.int64)

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        """Grid integers (any shape) → float32 weights, bit-exact in every decoder."""
        return _dequantised(q, self.offset, self.step)

    def round(self, values: np.ndarray) -> np.ndarray:
        """``values`` moved to the nearest grid value (float32)."""
        return self.dequantise(self.quantise(values))

    def to_list(self) -> list:
        """``[bits, offset, step]`` for JSON, each number with the fewest digits that give its
        float32 back (a reader rounds to float32: ``np.float32``, ``Math.fround``)."""
        return [self.bits, float(str(np.float32(self.offset))), float(str(np.float32(self.step)))]

    @classmethod
    def from_list(cls, row: list) -> Grid:
        """The inverse of :meth:`to_list` (values checked by the caller)."""
        bits, offset, step = row
        return cls(int(bits), float(np.float32(offset)), float(np.float32(step)))


def split_symbols(q: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Integers of ``bits`` → (top :data:`HIGH_BITS` bits, the remaining low bits or None)."""
    low_bits = max(0, bits - HIGH_BITS)
    if not low_bits:
        return q, None
    return q >> low_bits, q & ((1 << low_bits) - 1)


def join_symbols(high: np.ndarray, low: np.ndarray | None, bits: int) -> np.ndarray:
    """The inverse of :func:`split_symbols`."""
    return high if low is None else (high << (bits - HIGH_BITS)) | low


def check_bits(bits: int) -> None:
    """Raise ValueError unless ``bits`` is a quantised width (2–16) or 32 (floats)."""
    if bits != FLOAT_BITS and not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bits must be {MIN_BITS}–{MAX_BITS}, or {FLOAT_BITS} for float storage; got {bits}")


def _grid_spans(rows: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, step)`` of the grid of ``bits`` spanning each row of ``rows`` ``(M, n)`` float32,
    float64 arrays ``(M,)`` holding float32 numbers (a constant row gets any step)."""
    low = rows.min(axis=1).astype(np.float64)
    high = rows.max(axis=1).astype(np.float64)
    step = ((high - low) / (2 ** bits - 1)).astype(np.float32).astype(np.float64)
    step[step <= 0] = float(np.float32(1e-6))
    return low, step


def _nearest(values: np.ndarray, offset, step, bits: int) -> np.ndarray:
    """The nearest grid integers of ``values`` (float64, clipped to the grid); ``offset`` and
    ``step`` are numbers, or arrays that broadcast against ``values``."""
    return np.clip(np.rint((values.astype(np.float64) - offset) / step), 0, 2 ** bits - 1)


def _dequantised(q: np.ndarray, offset, step) -> np.ndarray:
    return (offset + q.astype(np.float64) * step).astype(np.float32)


def round_to_own_grids(values: np.ndarray, bits: int) -> np.ndarray:
    """Each row ``values[m]`` of ``(M, ...)`` float32 moved to the nearest value of its own grid,
    ``Grid.fit(values[m], bits)``: the same float32 bits as ``Grid.round``, for M tensors at once
    (an ensemble's members, each rounded to the grid its own file will have)."""
    if values.size == 0:
        return values.copy()
    rows = values.reshape(len(values), -1)
    offset, step = (column[:, None] for column in _grid_spans(rows, bits))
    return _dequantised(_nearest(rows, offset, step, bits), offset, step).reshape(values.shape)


@contextmanager
def rounded_weights(model, bits: int, first_layer):
    """Within the block, every weight of ``model`` holds its value rounded to its own grid (fit to
    its current values, of :func:`tensor_bits`; ``first_layer(name)`` gives a first layer's ω0); on leaving,
    the float values come back while gradients computed inside stay — a straight-through
    estimator: the loss is measured on the weights the file will hold, and the optimiser moves
    the float weights behind them (quantisation-aware fine-tuning).  A model that stands for
    several files (an ensemble) gives its tensors with a leading member axis (``member_tensors``),
    so each member's slice gets the grid its own file will have."""
    import torch

    if hasattr(model, "member_tensors"):
        tensors = list(model.member_tensors())
    else:
        tensors = [(name, tensor.unsqueeze(0)) for name, tensor in model.named_parameters()]
    saved = []
    with torch.no_grad():
        for name, tensor in tensors:
            saved.append(tensor.detach().clone())
            rounded = round_to_own_grids(tensor.detach().cpu().numpy(), tensor_bits(bits, name, first_layer(name)))
            tensor.copy_(torch.from_numpy(rounded))
    try:
        yield
    finally:
        with torch.no_grad():
            for (_, tensor), value in zip(tensors, saved):
                tensor.copy_(value)
