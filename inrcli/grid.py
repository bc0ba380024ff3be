"""Coordinate grids and partition geometry, for any number of dimensions.

Conventions (see docs/FORMAT.md):

* A signal is sampled on a grid of ``full_shape`` samples (rows first for images).
* Sample ``i`` along an axis of ``N`` samples covers ``[i, i + 1)`` in *sample units*; its
  centre ``i + 0.5`` maps to the network coordinate ``x = 2 (i + 0.5) / N - 1``, so the whole
  signal spans ``[-1, 1]`` on every axis whatever its size.
* Partition edges are whole sample indices, so a signal whose size is not a multiple of the
  grid is still split exactly (partitions differ in size by at most one sample).
* A ``window`` is a range ``[lo, hi)`` in sample units per axis: the part of the signal a
  (possibly cropped) file covers.  Decoding places ``n`` evenly spaced sample centres over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inrcli.errors import InrFileError, UsageError

if TYPE_CHECKING:  # torch is imported where coordinates are routed: reading a file's header needs none
    import torch

Range = tuple[int, int]
CENTRE_TOLERANCE = 1e-6
"""Samples: a position this close to a sample centre is that centre (float64 rounding of a
coordinate is ~1e-12 samples; decodes above 10⁵× the resolution would come near it)."""


def sample_centres(window: tuple[float, float], n_out: int, n_full: int, origin: int = 0,
                   span: int | None = None) -> np.ndarray:
    """Network coordinates of ``n_out`` evenly spaced sample centres over ``window``.

    Position ``u`` (in samples) maps to ``2 (u − origin) / span − 1``: by default (origin 0, span
    ``n_full``) the signal spans [−1, 1]; an extended file keeps its first region's frame.
    Computed in float64 so that a crop decoded at scale 1 reproduces exactly the coordinates
    of the full decode: ``lo + (i + 0.5) * (hi - lo) / n_out`` is exact there.

    Returns: ``(n_out,)`` float64.
    """
    lo, hi = window
    i = np.arange(n_out, dtype=np.float64)
    positions = lo + (i + 0.5) * (hi - lo) / n_out
    return 2.0 * (positions - origin) / (span or n_full) - 1.0


def axis_frames(partitioning, shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """``(origin, span)`` per axis of a partitioning (or a view with ``frame``), or the plain frame
    of a signal of ``shape`` when there is none (origin 0, span the axis' length)."""
    return [partitioning.frame(a) if partitioning is not None else (0, n) for a, n in enumerate(shape)]


def even_edges(n_samples: int, n_parts: int) -> tuple[int, ...]:
    """Edges that split ``n_samples`` into ``n_parts`` contiguous runs of near-equal size."""
    return tuple((k * n_samples) // n_parts for k in range(n_parts + 1))


def auto_grid(shape: tuple[int, ...], target: int | tuple[int, ...]) -> tuple[int, ...]:
    """Partitions per axis so that each partition is about ``target`` samples long."""
    targets = (target,) * len(shape) if isinstance(target, int) else target
    return tuple(max(1, round(n / t)) for n, t in zip(shape, targets))


def parse_ranges(text: str, ndim: int) -> tuple[Range, ...]:
    """Parse ``"R0:R1,C0:C1"`` into ``((R0, R1), (C0, C1))``; one range per axis."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != ndim:
        raise UsageError(f"--region needs {ndim} range(s) like 0:8{',0:8' * (ndim - 1)}, got {text!r}")
    ranges = []
    for part in parts:
        bits = part.split(":")
        try:
            lo, hi = (int(b) for b in bits)
        except ValueError:
            raise UsageError(f"--region: {part!r} is not a range START:STOP of whole numbers") from None
        ranges.append((lo, hi))
    return tuple(ranges)


@dataclass(frozen=True)
class Partitioning:
    """A grid of partitions over a sample grid, and the block of partitions a model holds.

    Attributes:
        full_shape: samples per axis of the whole, uncropped signal, ``(d,)``.
        edges: per axis, the first sample index of every partition plus the end
            (``len == parts + 1``, starting at 0 and ending at ``full_shape[axis]``).
        kept: per axis, the half-open range of partition indices the model holds.
        origin, span: the coordinate frame, per axis: sample position ``u`` is the network
            coordinate ``2 (u − origin) / span − 1``. None means origin 0 and span
            ``full_shape`` (the signal spans [−1, 1]); a file grown by ``inr extend`` keeps its
            first region's frame, so the old networks see the coordinates they were trained on.
    """

    full_shape: tuple[int, ...]
    edges: tuple[tuple[int, ...], ...]
    kept: tuple[Range, ...]
    origin: tuple[int, ...] | None = None
    span: tuple[int, ...] | None = None

    def frame(self, axis: int) -> tuple[int, int]:
        """``(origin, span)`` of ``axis``."""
        origin = self.origin[axis] if self.origin is not None else 0
        return origin, self.span[axis] if self.span is not None else self.full_shape[axis]

    @classmethod
    def even(cls, full_shape: tuple[int, ...], grid: tuple[int, ...]) -> Partitioning:
        if len(grid) != len(full_shape):
            raise UsageError(f"--partitions needs {len(full_shape)} number(s), got {len(grid)}")
        for n, g in zip(full_shape, grid):
            if not 1 <= g <= n:
                raise UsageError(f"cannot split {n} samples into {g} partitions (need 1 ≤ partitions ≤ samples)")
        edges = tuple(even_edges(n, g) for n, g in zip(full_shape, grid))
        return cls(tuple(full_shape), edges, tuple((0, g) for g in grid))

    @property
    def ndim(self) -> int:
        return len(self.full_shape)

    @property
    def grid(self) -> tuple[int, ...]:
        """Partitions per axis of the whole signal."""
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def kept_grid(self) -> tuple[int, ...]:
        """Partitions per axis held by the model."""
        return tuple(hi - lo for lo, hi in self.kept)

    @property
    def num_slots(self) -> int:
        """Number of local networks the model holds."""
        return int(np.prod(self.kept_grid))

    @property
    def window(self) -> tuple[Range, ...]:
        """The part of the signal covered, in sample units per axis."""
        return tuple((e[lo], e[hi]) for e, (lo, hi) in zip(self.edges, self.kept))

    @property
    def is_cropped(self) -> bool:
        return self.kept_grid != self.grid

    def slot_of(self, index: tuple[int, ...]) -> int:
        """Slot (position in the model's local weights) of a kept partition's grid index."""
        rel = [i - lo for i, (lo, _) in zip(index, self.kept)]
        return int(np.ravel_multi_index(rel, self.kept_grid))

    def axis_partition(self, axis: int, coords: torch.Tensor) -> torch.Tensor:
        """Partition index along ``axis`` of each coordinate, clamped into the kept range.

        A coordinate exactly on an edge belongs to the partition after it; coordinates outside
        the kept block (extrapolation, rounding at the border) go to the nearest kept partition.

        Args: coords ``(N,)`` network coordinates.  Returns ``(N,)`` int64.
        """
        import torch

        origin, span = self.frame(axis)
        inner = (torch.tensor(self.edges[axis][1:-1], dtype=torch.float64) - origin) * (2.0 / span) - 1.0
        index = torch.searchsorted(inner.to(coords.device), coords.to(torch.float64).contiguous(), right=True)
        lo, hi = self.kept[axis]
        return index.clamp_(lo, hi - 1)

    def axis_blend(self, axis: int, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Which partitions' networks make up the value at each coordinate along ``axis``.

        Inside a partition, from its first sample centre to its last, only its own network
        counts.  Between the last centre of one partition and the first centre of the next
        (one sample wide) the two networks are blended linearly, so decoding above the
        original resolution has no step at partition borders.  Sample centres themselves always
        get weight exactly 1 for their own partition, so decoding at the original resolution is
        untouched.  There is no blending past the kept block's outer borders.

        Args: coords ``(N,)`` network coordinates.
        Returns: ``(own, neighbour, t)``: own partition ``(N,)``, the neighbour blended in
            ``(N,)`` (equal to own where none is) and its weight ``t`` in [0, 0.5] ``(N,)``
            float64; own gets ``1 - t``.
        """
        import torch

        own = self.axis_partition(axis, coords)
        edges = torch.tensor(self.edges[axis], dtype=torch.float64, device=coords.device)
        origin, span = self.frame(axis)
        position = (coords.to(torch.float64) + 1.0) * (span / 2.0) + origin  # in samples
        first_centre, last_centre = edges[own] + 0.5, edges[own + 1] - 0.5
        lo, hi = self.kept[axis]
        before = (position < first_centre) & (own > lo)
        after = (position > last_centre) & (own < hi - 1)
        neighbour = torch.where(before, own - 1, torch.where(after, own + 1, own))
        t = torch.where(before, first_centre - position, torch.where(after, position - last_centre, 0.0))
        # a sample centre's position comes back from its coordinate off by rounding (3858.4999999…):
        # that is the centre, weight exactly 0, else its neighbour's block grows by a sample and a
        # crop's pieces are cut differently from the full decode's
        t = torch.where(t < CENTRE_TOLERANCE, 0.0, t)
        return own, neighbour, t.clamp_(0.0, 0.5)

    def route(self, coords: torch.Tensor) -> torch.Tensor:
        """Slot of the local network responsible for each coordinate.

        Args: coords ``(N, d)``.  Returns ``(N,)`` int64 slots in ``[0, num_slots)``.
        """
        import torch

        slot = torch.zeros(coords.shape[0], dtype=torch.int64, device=coords.device)
        for axis, (lo, hi) in enumerate(self.kept):
            slot = slot * (hi - lo) + (self.axis_partition(axis, coords[:, axis]) - lo)
        return slot

    def crop(self, region: tuple[Range, ...]) -> Partitioning:
        """The partitioning of a file keeping only ``region`` (absolute partition indices)."""
        if len(region) != self.ndim:
            raise UsageError(f"--region needs {self.ndim} range(s), got {len(region)}")
        for axis, ((lo, hi), (klo, khi)) in enumerate(zip(region, self.kept)):
            if not (klo <= lo < hi <= khi):
                kept_text = ",".join(f"{a}:{b}" for a, b in self.kept)
                raise UsageError(
                    f"--region {lo}:{hi} on axis {axis} is empty or outside the kept partitions ({kept_text})"
                )
        return Partitioning(self.full_shape, self.edges, tuple(region), self.origin, self.span)

    def extended(self, at: tuple[int, ...], new_shape: tuple[int, ...]) -> tuple[Partitioning, tuple[int, ...]]:
        """The grid of a signal of ``new_shape`` that holds this whole signal at sample offset
        ``at``: this grid's partitions moved by ``at``, and new partitions of about this grid's
        pitch on every side (the samples before and after, each split evenly), all kept.  The frame
        moves with the old partitions, so they keep their coordinates.

        Returns: the new partitioning and, per axis, how many new partitions precede the old ones.
        """
        if self.is_cropped:
            raise UsageError("a cropped file cannot be extended; extend the full file, then crop")
        if len(at) != self.ndim or len(new_shape) != self.ndim:
            raise UsageError(f"--at needs {self.ndim} offset(s)")
        edges, before = [], []
        for axis, (offset, n_new, n_old, old) in enumerate(zip(at, new_shape, self.full_shape, self.edges)):
            if not 0 <= offset <= n_new - n_old:
                raise UsageError(f"--at {offset} on axis {axis}: the encoded {n_old} samples do not fit inside "
                                 f"the new signal's {n_new} there")
            pitch = n_old / (len(old) - 1)
            after = n_new - offset - n_old
            head = even_edges(offset, math.ceil(offset / pitch)) if offset else (0,)
            tail = even_edges(after, math.ceil(after / pitch)) if after else (0,)
            edges.append(head[:-1] + tuple(e + offset for e in old) + tuple(e + offset + n_old for e in tail[1:]))
            before.append(len(head) - 1)
        frames = [self.frame(a) for a in range(self.ndim)]
        origin = tuple(o + offset for (o, _), offset in zip(frames, at))
        grown = Partitioning(tuple(new_shape), tuple(edges), tuple((0, len(e) - 1) for e in edges), origin,
                             tuple(s for _, s in frames))
        return grown, tuple(before)

    def slot_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First and one-past-last sample index of every kept partition.

        Returns: two ``(num_slots, d)`` int64 tensors, slots in row-major order.
        """
        import torch

        axes = [range(lo, hi) for lo, hi in self.kept]
        index = np.stack(np.meshgrid(*[np.array(a) for a in axes], indexing="ij"), -1).reshape(-1, self.ndim)
        lows = np.array([[self.edges[a][i[a]] for a in range(self.ndim)] for i in index])
        highs = np.array([[self.edges[a][i[a] + 1] for a in range(self.ndim)] for i in index])
        return torch.from_numpy(lows).long(), torch.from_numpy(highs).long()

    def to_dict(self) -> dict:
        frame = {} if self.origin is None else {"origin": list(self.origin), "span": list(self.span)}
        return {"full_shape": list(self.full_shape), "edges": [list(e) for e in self.edges],
                "kept": [list(k) for k in self.kept]} | frame

    @classmethod
    def from_dict(cls, data: object) -> Partitioning:
        """Rebuild from file metadata, refusing anything inconsistent."""
        try:
            full_shape = tuple(_whole(n) for n in data["full_shape"])
            edges = tuple(tuple(_whole(e) for e in axis) for axis in data["edges"])
            kept = tuple((_whole(lo), _whole(hi)) for lo, hi in data["kept"])
        except (TypeError, KeyError, ValueError) as exc:
            raise InrFileError(f"partitioning metadata is malformed ({exc})") from None
        if not (len(full_shape) == len(edges) == len(kept)) or not full_shape:
            raise InrFileError("partitioning metadata has axes of different lengths")
        for n, e, (lo, hi) in zip(full_shape, edges, kept):
            if n < 1 or len(e) < 2 or e[0] != 0 or e[-1] != n or any(b <= a for a, b in zip(e, e[1:])):
                raise InrFileError("partition edges are not increasing from 0 to the signal size")
            if not 0 <= lo < hi <= len(e) - 1:
                raise InrFileError("kept partition range is empty or outside the grid")
        if ("origin" in data) != ("span" in data):
            raise InrFileError("partitioning metadata has an origin without a span, or a span without an origin")
        if "origin" not in data:
            return cls(full_shape, edges, kept)
        try:
            origin, span = tuple(_whole(n) for n in data["origin"]), tuple(_whole(n) for n in data["span"])
        except (TypeError, ValueError) as exc:
            raise InrFileError(f"partitioning frame is malformed ({exc})") from None
        if len(origin) != len(full_shape) or len(span) != len(full_shape) or not all(
                0 <= o < n and 1 <= s <= n for o, s, n in zip(origin, span, full_shape)):
            raise InrFileError("partitioning frame lies outside the signal")
        return cls(full_shape, edges, kept, origin, span)


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    return value
