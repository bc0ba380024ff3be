"""Chunked evaluation of a model: at arbitrary points, or on a grid at any resolution.

Points are grouped by the local network (slot) that owns them and cut into fixed-size
*pieces*; a call to the model evaluates a fixed number of pieces.  Because every call has the
same shape and a partition's points are cut the same way whatever else is decoded, a cropped
file decoded at scale 1 reproduces the full decode of its region exactly, and memory stays
bounded by the call size whatever the output size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from inrcli.errors import ResourceError
from inrcli.grid import axis_frames, sample_centres
from inrcli.models import partitioning_of

PIECE = 256  # points per piece
PIECES_PER_CALL = 256  # pieces per model call: 65,536 points
MAX_BLOCK_POINTS = 1 << 20  # largest block of a grid held at once before it is written out
MAX_DECODE_BYTES = 8 << 30  # refuse decodes whose float32 output alone would exceed this

Progress = Callable[[int, int], None]


def check_decode_memory(out_shape: tuple[int, ...], channels: int) -> None:
    """Refuse a decode whose output would not fit, with the estimate and a way forward."""
    needed = math.prod(out_shape) * channels * 4  # the float32 output; decoding adds a bounded working set
    available = available_memory()
    limit = min(MAX_DECODE_BYTES, int(0.7 * available)) if available else MAX_DECODE_BYTES
    if needed > limit:
        have = f" ({available / 2**30:.1f} GiB available)" if available else ""
        raise ResourceError(f"a {'×'.join(map(str, out_shape))} decode needs about {needed / 2**30:,.1f} GiB of memory"
                            f"{have}; decode a smaller size or crop a region first (inr crop)")


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class _Batcher:
    """Collects pieces and evaluates them in fixed-shape model calls."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model = model
        self.device = device
        self.pending: list[tuple[int, torch.Tensor, Callable[[torch.Tensor], None]]] = []

    def add(self, slot: int, coords: torch.Tensor, sink: Callable[[int, np.ndarray], None]) -> None:
        """Queue ``coords (m, d)`` for ``slot``; ``sink(offset, values (k, C))`` receives the results."""
        for start in range(0, coords.shape[0], PIECE):
            piece = coords[start:start + PIECE]
            count = piece.shape[0]
            if count < PIECE:  # pad with copies of the last point, dropped again afterwards
                piece = torch.cat([piece, piece[-1:].expand(PIECE - count, -1)])
            self.pending.append((slot, piece, lambda values, s=start, k=count: sink(s, values[:k])))
            if len(self.pending) == PIECES_PER_CALL:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        # pad to a power of two of pieces: few distinct call shapes, and a small signal does not
        # pay for a full call of 65,536 points. At least two: batched products of a batch of one
        # take another kernel that rounds differently, so a piece alone in a call (the tail of a
        # decode) would differ in its last bits from the same piece in a crop's decode
        calls = max(2, 1 << (len(self.pending) - 1).bit_length())
        batch = self.pending + [self.pending[-1][:2] + (None,)] * (calls - len(self.pending))
        slots = torch.tensor([slot for slot, _, _ in batch], device=self.device)
        coords = torch.stack([piece for _, piece, _ in batch]).to(self.device)
        with torch.inference_mode():
            values = self.model(coords, slots).float().cpu().numpy()
        for (_, _, sink), piece_values in zip(self.pending, values):
            sink(piece_values)
        self.pending = []


def evaluate_points(model: torch.nn.Module, coords: torch.Tensor, device: str | torch.device = "cpu",
                    on_progress: Progress | None = None) -> np.ndarray:
    """The model's value at arbitrary coordinates: ``(N, d) -> (N, C)`` float32.

    Near partition borders the neighbouring partitions' networks are blended as described in
    :meth:`Partitioning.axis_blend`.
    """
    coords = coords.float().cpu()
    out = np.zeros((coords.shape[0], model.out_dim), dtype=np.float32)
    batcher = _Batcher(model, torch.device(device))
    for points, slots, weights in _point_terms(model, coords):
        order = torch.argsort(slots, stable=True)
        for slot, position in _runs(slots[order], order):
            index = points[position]
            index_np, weight_np = index.numpy(), weights[position].numpy()[:, None]

            def sink(offset: int, values: np.ndarray, index_np=index_np, weight_np=weight_np) -> None:
                part = slice(offset, offset + len(values))
                out[index_np[part]] += values * weight_np[part]

            batcher.add(slot, coords[index], sink)
    batcher.flush()
    if on_progress:
        on_progress(coords.shape[0], coords.shape[0])
    return out


def _point_terms(model: torch.nn.Module, coords: torch.Tensor
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(point indices (M,), slots (M,), weights (M,))`` per blend term, non-zero weights only."""
    partitioning = partitioning_of(model)
    n = coords.shape[0]
    if partitioning is None:
        yield torch.arange(n), torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.float32)
        return
    per_axis = [partitioning.axis_blend(a, coords[:, a]) for a in range(partitioning.ndim)]
    for choice in itertools.product((0, 1), repeat=partitioning.ndim):
        slot = torch.zeros(coords.shape[0], dtype=torch.int64)
        weight = torch.ones(coords.shape[0], dtype=torch.float64)
        for a, ((own, neighbour, t), pick) in enumerate(zip(per_axis, choice)):
            lo, hi = partitioning.kept[a]
            slot = slot * (hi - lo) + ((neighbour if pick else own) - lo)
            weight = weight * (t if pick else 1.0 - t)
        points = torch.nonzero(weight > 0).flatten()
        if len(points):
            yield points, slot[points], weight[points].float()


def decode_grid(model: torch.nn.Module, out_shape: tuple[int, ...], window: tuple[tuple[float, float], ...],
                full_shape: tuple[int, ...], device: str | torch.device = "cpu",
                on_progress: Progress | None = None) -> np.ndarray:
    """Evaluate the model on ``out_shape`` evenly spaced sample centres over ``window``.

    Each partition's network is evaluated on the block of output samples where its blend
    weight is non-zero (its own samples plus the one-sample seams it shares with neighbours)
    and added in with that weight.  At the original resolution every weight is exactly 1 and
    blocks do not overlap.

    Args:
        out_shape: samples per axis of the output, ``(d,)``.
        window: per axis ``(lo, hi)`` in sample units of the full signal.
        full_shape: samples per axis of the full signal (fixes the coordinate scale).
    Returns: ``(*out_shape, C)`` float32.
    """
    frames = axis_frames(partitioning_of(model), full_shape)
    axes = [torch.from_numpy(sample_centres(window[a], out_shape[a], full_shape[a], *frames[a]))
            for a in range(len(out_shape))]
    out = np.zeros((*out_shape, model.out_dim), dtype=np.float32)
    batcher = _Batcher(model, torch.device(device))
    total, done = int(np.prod(out_shape)), 0
    for slot, block, weights in _partition_blocks(model, axes):
        for sub in _split_block(block, MAX_BLOCK_POINTS):
            shape = tuple(s.stop - s.start for s in sub)
            grids = torch.meshgrid(*[axis[s] for axis, s in zip(axes, sub)], indexing="ij")
            coords = torch.stack([g.reshape(-1) for g in grids], dim=-1).float()
            weight = _outer([w[s.start - b.start:s.stop - b.start] for w, s, b in zip(weights, sub, block)])
            buffer = np.empty((coords.shape[0], out.shape[-1]), dtype=np.float32)
            remaining = [coords.shape[0]]

            def sink(offset: int, values: np.ndarray, buffer=buffer, remaining=remaining, sub=sub, shape=shape,
                     weight=weight):
                buffer[offset:offset + len(values)] = values
                remaining[0] -= len(values)
                if remaining[0] == 0:
                    values = buffer.reshape(*shape, -1)
                    out[sub] += values if weight is None else values * weight[..., None]

            batcher.add(slot, coords, sink)
            done += coords.shape[0]
            if on_progress:
                on_progress(min(done, total), total)
    batcher.flush()
    return out


def _outer(weights: list[np.ndarray]) -> np.ndarray | None:
    """Outer product of per-axis weights, or None when they are all exactly 1."""
    if all(np.all(w == 1.0) for w in weights):
        return None
    result = np.ones((), dtype=np.float32)
    for w in weights:
        result = np.multiply.outer(result, w.astype(np.float32))
    return result


def _runs(sorted_slots: torch.Tensor, order: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """``(slot, indices)`` for each run of equal slots in a sorted slot list."""
    values, counts = torch.unique_consecutive(sorted_slots, return_counts=True)
    start = 0
    for value, count in zip(values.tolist(), counts.tolist()):
        yield value, order[start:start + count]
        start += count


def _partition_blocks(model: torch.nn.Module, axes: list[torch.Tensor]
                      ) -> Iterator[tuple[int, tuple[slice, ...], list[np.ndarray]]]:
    """``(slot, block, per-axis weights)`` for every kept partition with a non-empty block."""
    partitioning = partitioning_of(model)
    if partitioning is None:
        yield 0, tuple(slice(0, len(axis)) for axis in axes), [np.ones(len(axis)) for axis in axes]
        return
    per_axis = []
    for a, axis in enumerate(axes):
        own, neighbour, t = partitioning.axis_blend(a, axis)
        runs = []
        for k in range(*partitioning.kept[a]):
            weight = torch.where(own == k, 1.0 - t, 0.0) + torch.where((neighbour == k) & (own != k), t, 0.0)
            support = torch.nonzero(weight > 0).flatten()
            if len(support):
                span = slice(int(support[0]), int(support[-1]) + 1)
                runs.append((k, span, weight[span].numpy()))
        per_axis.append(runs)
    for combo in itertools.product(*per_axis):
        index = tuple(k for k, _, _ in combo)
        yield partitioning.slot_of(index), tuple(s for _, s, _ in combo), [w for _, _, w in combo]


def _split_block(block: tuple[slice, ...], max_points: int) -> Iterator[tuple[slice, ...]]:
    """Cut a block into sub-blocks of at most ``max_points`` samples, slicing the leading axes."""
    sizes = [s.stop - s.start for s in block]
    if int(np.prod(sizes)) <= max_points or all(n == 1 for n in sizes):
        yield block
        return
    axis = next(a for a, n in enumerate(sizes) if n > 1)
    inner = int(np.prod(sizes[axis + 1:]))
    step = max(1, max_points // max(inner, 1))
    first = block[axis]
    for start in range(first.start, first.stop, step):
        part = block[:axis] + (slice(start, min(start + step, first.stop)),) + block[axis + 1:]
        yield from _split_block(part, max_points)
