"""Quantised weights (issue 14): a uniform grid per tensor, and rounding to it during training.

A tensor quantised to ``bits`` stores integers ``q`` in ``0 … 2^bits − 1`` and one grid, its
``offset`` (the smallest weight) and ``step`` ((largest − smallest) / (2^bits − 1)), both float32
numbers. A tensor's bits are the file's (``--bits``) plus what its place in a SIREN asks for
(:func:`tensor_bits`); a first-layer weight of a large ω0 that would need more than 16 is stored
as float32. A weight is ``float32(offset + q · step)`` computed in float64 — exact in any language
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
"""A sine layer computes sin(ω0 (W x + b)) with ω0 = 30 or more: an error e in a first-layer weight
moves a phase by ω0 · e · x over the whole signal, where an error in a hidden weight is averaged
over its inputs. Measured on chelsea.png (8 bits, no fine-tuning): the first layer alone costs
2.3 dB, every hidden weight matrix under 0.1 dB."""
HIDDEN_W0 = 30.0
"""The ω0 that ``FIRST_LAYER_EXTRA_BITS`` was measured at: a first layer of a larger ω0 (audio's
3000) turns the same grid step into a larger phase error, and gets one more bit per doubling —
beyond :data:`MAX_BITS` its weights are stored as float32 (:func:`tensor_bits` gives None).
Measured on gt_bach.wav (60 s, 9 bits, no fine-tuning): the global first-layer weight at 16 bits
alone costs 0.74 dB, as float32 nothing."""
BIAS_EXTRA_BITS = 2
"""A bias shifts every output of its layer alike. A sine layer's bias counts only modulo 2π/ω0
and is stored moved into one period (:func:`wrapped_phases`), so its grid spans one period, at
any ω0, where it spanned the bias's whole range: chelsea at 8 bits then loses 0.18 dB instead of
0.35, gt_bach at 9 bits 0.89 dB instead of 2.15 (no fine-tuning)."""
START_GAIN_EXTRA_BITS = 1
"""A first-layer weight started wider than SIREN's range (an lg-siren's local first layers: 5–9×
SIREN's bound on pictures) spans more after training too, so the same bits make a coarser grid.
Measured (`python bench/default_bits.py --cases kodim03 kodim05 --bits 8`, 2,000 steps; bench/
RESULTS.md, "The local first layers' grid"): 12 → 13 bits gains 0.11 and 0.12 dB for 0.5% more
bytes; a 14th bit 0.03–0.04 dB for another 0.5%, a 15th and 16th nothing."""
SHARED_EXTRA_BITS = 2
"""The global branch and merge layer of a partitioned model reach every partition, and are a
small share of its weights (under 2% by default): two more bits cost little and measured
0.09 dB (chelsea, 8 bits) and 0.13–0.5 dB (gt_bach, 9 and 8 bits) of the loss."""


def tensor_bits(bits: int, role) -> int | None:
    """The bits of a tensor of ``role`` (``models.TensorRole``) in a file of ``bits``, or None
    for float32 storage: a first-layer weight whose ω0 asks for more than :data:`MAX_BITS`."""
    first_layer_weight = role.first_w0 is not None and not role.bias
    extra = SHARED_EXTRA_BITS if role.shared else 0
    if first_layer_weight:
        extra += FIRST_LAYER_EXTRA_BITS + max(0, math.ceil(math.log2(role.first_w0 / HIDDEN_W0) - 1e-9))
        extra += START_GAIN_EXTRA_BITS if role.start_gain > 1.0 else 0
        return None if bits + extra > MAX_BITS else bits + extra
    if role.bias and (role.phase_w0 is not None or role.first_w0 is None):
        extra += BIAS_EXTRA_BITS
    elif role.first_w0 is not None:  # a first layer's bias that is not stored within one period
        extra += FIRST_LAYER_EXTRA_BITS
    return min(MAX_BITS, bits + extra)


def wrapped_phases(values: np.ndarray, w0: float | None) -> np.ndarray:
    """A sine layer's bias ``b`` (any shape, float32) moved into one period, ``[−π/ω0, π/ω0]``:
    ``sin(ω0 (x + b))`` does not change (to float32 rounding), and a grid spanning one period is
    finer than one spanning the range that training left ``b`` in. ``w0`` None: ``values`` as they are."""
    if w0 is None:
        return values
    period = 2 * math.pi / w0
    wide = values.astype(np.float64)
    return (wide - np.round(wide / period) * period).astype(np.float32)


def storable_state(model) -> dict[str, np.ndarray]:
    """``model``'s weights (name → float32 array) as a coded file stores them before rounding:
    every sine layer's bias moved into one period (:func:`wrapped_phases`)."""
    from inrcli.models import tensor_roles

    roles = tensor_roles(model)
    return {name: wrapped_phases(tensor.detach().cpu().numpy(), roles(name).phase_w0)
            for name, tensor in model.state_dict().items()}


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
def rounded_weights(model, bits: int, roles):
    """Within the block, every coded weight of ``model`` holds its value rounded to its own grid
    (fit to its current values, of :func:`tensor_bits`; ``roles``: ``models.tensor_roles``), a
    sine layer's bias moved into one period first; on leaving, the float values come back while
    gradients computed inside stay — a straight-through estimator: the loss is measured on the
    weights the file will hold, and the optimiser moves the float weights behind them
    (quantisation-aware fine-tuning).  A model that stands for several files (an ensemble) gives
    its tensors with a leading member axis (``member_tensors``), so each member's slice gets the
    grid its own file will have.  Tensors stored as floats are left as they are."""
    import torch

    if hasattr(model, "member_tensors"):
        tensors = list(model.member_tensors())
    else:
        tensors = [(name, tensor.unsqueeze(0)) for name, tensor in model.named_parameters()]
    coded = [(tensor, roles(name)) for name, tensor in tensors]
    coded = [(tensor, role.phase_w0, tensor_bits(bits, role)) for tensor, role in coded]
    coded = [entry for entry in coded if entry[2] is not None]
    saved = []
    with torch.no_grad():
        for tensor, phase_w0, width in coded:
            saved.append(tensor.detach().clone())
            values = wrapped_phases(tensor.detach().cpu().numpy(), phase_w0)
            tensor.copy_(torch.from_numpy(round_to_own_grids(values, width)))
    try:
        yield
    finally:
        with torch.no_grad():
            for (tensor, _, _), value in zip(coded, saved):
                tensor.copy_(value)
