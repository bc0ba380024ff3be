"""Chunked evaluation of a model: at arbitrary points, or on a grid at any resolution.

Points are grouped by the local network (slot) that owns them and cut into fixed-size
*pieces*; a call to the model evaluates a fixed number of pieces.  Because every call has the
same shape and a partition's points are cut the same way whatever else is decoded, a cropped
file decoded at scale 1 reproduces the full decode of its region exactly, and memory stays
bounded by the call size whatever the output size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np
import torch

from inrcli.grid import sample_centres

PIECE = 256  # points per piece
PIECES_PER_CALL = 256  # pieces per model call: 65,536 points
MAX_BLOCK_POINTS = 1 << 20  # largest block of a grid held at once before it is written out

Progress = Callable[[int, int], None]


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
        batch = self.pending + [self.pending[-1][:2] + (None,)] * (PIECES_PER_CALL - len(self.pending))
        slots = torch.tensor([slot for slot, _, _ in batch], device=self.device)
        coords = torch.stack([piece for _, piece, _ in batch]).to(self.device)
        with torch.inference_mode():
            values = self.model(coords, slots).float().cpu().numpy()
        for (_, _, sink), piece_values in zip(self.pending, values):
            sink(piece_values)
        self.pending = []


def evaluate_points(model: torch.nn.Module, coords: torch.Tensor, device: str | torch.device = "cpu",
                    on_progress: Progress | None = None) -> np.ndarray:
    """The model's value at arbitrary coordinates: ``(N, d) -> (N, C)`` float32."""
    coords = coords.float().cpu()
    slots = model.route(coords).cpu()
    order = torch.argsort(slots, stable=True)
    out = np.empty((coords.shape[0], _out_dim(model)), dtype=np.float32)
    batcher = _Batcher(model, torch.device(device))
    done = 0
    for slot, index in _runs(slots[order], order):
        index_np = index.numpy()

        def sink(offset: int, values: np.ndarray, index_np=index_np) -> None:
            out[index_np[offset:offset + len(values)]] = values

        batcher.add(slot, coords[index], sink)
        done += len(index)
        if on_progress:
            on_progress(done, coords.shape[0])
    batcher.flush()
    return out


def decode_grid(model: torch.nn.Module, out_shape: tuple[int, ...], window: tuple[tuple[float, float], ...],
                full_shape: tuple[int, ...], device: str | torch.device = "cpu",
                on_progress: Progress | None = None) -> np.ndarray:
    """Evaluate the model on ``out_shape`` evenly spaced sample centres over ``window``.

    Args:
        out_shape: samples per axis of the output, ``(d,)``.
        window: per axis ``(lo, hi)`` in sample units of the full signal.
        full_shape: samples per axis of the full signal (fixes the coordinate scale).
    Returns: ``(*out_shape, C)`` float32.
    """
    axes = [torch.from_numpy(sample_centres(window[a], out_shape[a], full_shape[a])) for a in range(len(out_shape))]
    out = np.empty((*out_shape, _out_dim(model)), dtype=np.float32)
    batcher = _Batcher(model, torch.device(device))
    total, done = int(np.prod(out_shape)), 0
    for slot, block in _partition_blocks(model, axes):
        for sub in _split_block(block, MAX_BLOCK_POINTS):
            shape = tuple(s.stop - s.start for s in sub)
            grids = torch.meshgrid(*[axis[s] for axis, s in zip(axes, sub)], indexing="ij")
            coords = torch.stack([g.reshape(-1) for g in grids], dim=-1).float()
            buffer = np.empty((coords.shape[0], out.shape[-1]), dtype=np.float32)
            remaining = [coords.shape[0]]

            def sink(offset: int, values: np.ndarray, buffer=buffer, remaining=remaining, sub=sub, shape=shape):
                buffer[offset:offset + len(values)] = values
                remaining[0] -= len(values)
                if remaining[0] == 0:
                    out[sub] = buffer.reshape(*shape, -1)

            batcher.add(slot, coords, sink)
            done += coords.shape[0]
            if on_progress:
                on_progress(done, total)
    batcher.flush()
    return out


def _out_dim(model: torch.nn.Module) -> int:
    return model.config.out_dim


def _runs(sorted_slots: torch.Tensor, order: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """``(slot, indices)`` for each run of equal slots in a sorted slot list."""
    values, counts = torch.unique_consecutive(sorted_slots, return_counts=True)
    start = 0
    for value, count in zip(values.tolist(), counts.tolist()):
        yield value, order[start:start + count]
        start += count


def _partition_blocks(model: torch.nn.Module, axes: list[torch.Tensor]) -> Iterator[tuple[int, tuple[slice, ...]]]:
    """``(slot, block)`` for every kept partition: the output samples it owns, as slices."""
    partitioning = getattr(model, "partitioning", None)
    if partitioning is None:
        yield 0, tuple(slice(0, len(axis)) for axis in axes)
        return
    per_axis = []
    for a, axis in enumerate(axes):
        owner = partitioning.axis_partition(a, axis)
        runs = []
        values, counts = torch.unique_consecutive(owner, return_counts=True)
        start = 0
        for value, count in zip(values.tolist(), counts.tolist()):
            runs.append((value, slice(start, start + count)))
            start += count
        per_axis.append(runs)
    for combo in itertools.product(*per_axis):
        index = tuple(value for value, _ in combo)
        yield partitioning.slot_of(index), tuple(s for _, s in combo)


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
