"""The Local-Global SIREN's squared-error training step as one compiled kernel.

:func:`~inrcli.models.local_global_pass.local_global_pass` runs torch's operators one layer at
a time over every sample, and keeps every activation for the backward pass: ~1.4 kB per sample,
which streams through memory.  ``local_global_step.c`` runs the forward pass, the squared error
and the backward pass of a tile of 64 or 128 samples back to back, so they stay in cache, and
fuses each product with its sine; the weights' gradients come out of the forward call, and autograd's backward only
scales them.  Same inputs, same arithmetic as the torch pass up to the order of float sums
(checked against it once per process before first use, :func:`available`).
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch.autograd.function import once_differentiable

from inrcli import native

SOURCE = Path(__file__).with_name("local_global_step.c")
SELF_CHECK_TOLERANCE = 1e-3
"""Largest relative difference from the torch pass (sums and gradients) of the first-use check;
float32 sums in another order differ by ~1e-6."""

MIN_TILE_USE = 0.75
"""Least share of the tiles' samples that must be real for the kernel to serve: at 53% (the
training rows of samples/chelsea.png, 68 samples each) it ran 1.5× slower than the torch pass;
with full tiles it runs ~2× faster."""

_lock = threading.Lock()
_checked = False
_pool: tuple[int, ThreadPoolExecutor] | None = None
"""(threads, the pool): kept between steps, grown when torch is given more threads."""


def available() -> bool:
    """Whether the kernel is built here and agrees with the torch pass (checked once)."""
    global _checked
    with _lock:
        if native.library(SOURCE) is None:
            return False
        if not _checked:
            _checked = True
            difference = _self_check()
            if not difference <= SELF_CHECK_TOLERANCE:
                native.disable(SOURCE, f"its first-use check differed from torch by {difference:.2g}")
        return native.library(SOURCE) is not None


def serves(samples: int) -> bool:
    """Whether the kernel is the faster way to train rows of ``samples`` samples: it works in
    tiles of 64 or 128, and where the last tile would be mostly empty (rows of 68 samples: 128
    computed) the torch pass is faster."""
    if not available():
        return False
    tile = native.library(SOURCE).lg_mse_tile(samples)
    return samples >= MIN_TILE_USE * tile * -(-samples // tile)


def status() -> str:
    """``compiled``, or why the torch pass runs instead."""
    return native.status(SOURCE)


def local_global_squared_errors(first_w0: float, coords: torch.Tensor, targets: torch.Tensor, first: torch.Tensor,
                                merge: torch.Tensor, out: torch.Tensor, local: list[torch.Tensor],
                                glob: list[torch.Tensor]) -> torch.Tensor:
    """Σ over samples and channels of ``(network(coords) − targets)²`` per row: ``(R,)``,
    differentiable in the weights (not in ``coords`` or ``targets``).  Call only when
    :func:`available`.

    Shapes as :func:`~inrcli.models.local_global_pass.local_global_pass` (``R`` rows, ``n``
    samples, every weight with its bias as its last column), except that the coordinates may be
    shared: ``coords (B, d + 1, n)`` with ``R`` a multiple of ``B``, row ``r`` at ``coords[r % B]``;
    ``targets (R, out_dim, n)``.  Everything float32 on the CPU.
    """
    if len(local) != len(glob):
        raise ValueError("the local and global branches need the same depth")
    return _SquaredErrors.apply(first_w0, len(local), coords, targets, first, merge, out, *local, *glob)


class _SquaredErrors(torch.autograd.Function):
    # ctx-first forward (no setup_context): see inrcli.models.sine

    @staticmethod
    def forward(ctx, first_w0: float, hidden: int, coords, targets, first, merge, out, *layers):
        weights = [tensor.detach().contiguous() for tensor in (first, merge, out, *layers)]
        sse, grads = _run_kernel(first_w0, hidden, coords.detach().contiguous(), targets.detach().contiguous(),
                                 weights)
        ctx.grads = grads
        return sse

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_sse: torch.Tensor):
        scale = grad_sse.reshape(-1, 1, 1)  # each row's weights serve only that row's error
        grads = [grad.mul_(scale) for grad in ctx.grads]
        ctx.grads = None
        return (None, None, None, None, *grads)


def _run_kernel(first_w0: float, hidden: int, coords: torch.Tensor, targets: torch.Tensor,
                weights: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(sse (R,), gradients shaped as weights)``, rows split among torch's threads."""
    first, merge, out, *layers = weights
    local, glob = layers[:hidden], layers[hidden:]
    rows, out_dim, n = targets.shape
    width, global_width, dims = merge.shape[1], first.shape[1] - merge.shape[1], coords.shape[1] - 1
    if rows % coords.shape[0] or first.shape[0] != rows:
        raise ValueError("every row needs its weights and targets, and the coordinates must divide the rows")
    sse = torch.empty(rows)
    grads = [torch.empty_like(weight) for weight in weights]

    def pointers(tensors):
        return (ctypes.c_void_p * max(1, len(tensors)))(*[tensor.data_ptr() for tensor in tensors])

    keep = [pointers(local), pointers(glob), pointers(grads[3:3 + hidden]), pointers(grads[3 + hidden:])]

    def span(start: int, stop: int) -> int:
        return native.library(SOURCE).lg_mse_rows(
            start, stop, n, dims, width, global_width, out_dim, hidden, ctypes.c_float(first_w0), coords.shape[0],
            *(ctypes.c_void_p(t.data_ptr()) for t in (coords, targets, first, merge, out)), keep[0], keep[1],
            *(ctypes.c_void_p(t.data_ptr()) for t in (sse, grads[0], grads[1], grads[2])), keep[2], keep[3])

    threads = max(1, min(torch.get_num_threads(), rows))
    bounds = [rows * k // threads for k in range(threads + 1)]
    if threads == 1:
        codes = [span(0, rows)]
    else:  # ctypes lets go of the GIL during the call: the spans run in parallel
        codes = list(_threads(threads).map(span, bounds[:-1], bounds[1:]))
    if any(codes):
        raise MemoryError("the compiled training step could not get its working memory")
    return sse, grads


def _forget_pool() -> None:
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)  # a forked child has the pool but not its threads


def _threads(count: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool[0] < count:
        _pool = (count, ThreadPoolExecutor(count, thread_name_prefix="inr-kernel"))
    return _pool[1]


def random_case(rows: int, coord_rows: int, n: int, dims: int, width: int, global_width: int, out_dim: int,
                hidden: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """A random problem for :func:`local_global_squared_errors`, weights at SIREN-like scales:
    ``(coords (coord_rows, dims + 1, n), targets (rows, out_dim, n), [first, merge, out, *local,
    *glob])``.  For the first-use check and the tests."""
    generator = torch.Generator().manual_seed(seed)

    def uniform(*shape, scale=1.0):
        return (torch.rand(*shape, generator=generator) * 2 - 1) * scale

    coords = torch.cat([uniform(coord_rows, dims, n), torch.ones(coord_rows, 1, n)], 1)
    targets = uniform(rows, out_dim, n)
    weights = [uniform(rows, width + global_width, dims + 1, scale=1 / dims),
               uniform(rows, width, width + global_width + 1, scale=(6 / (width + global_width)) ** 0.5),
               uniform(rows, out_dim, width + 1, scale=0.3)]
    weights += [uniform(rows, width, width + 1, scale=(6 / width) ** 0.5) for _ in range(hidden)]
    weights += [uniform(rows, global_width, global_width + 1, scale=(6 / global_width) ** 0.5)
                for _ in range(hidden)]
    return coords, targets, weights


def _self_check() -> float:
    """Largest relative difference between the kernel and the torch pass on a small random case
    (a partial tile, odd widths, two coordinate rows shared by four)."""
    from inrcli.models.local_global_pass import local_global_pass

    hidden = 2
    coords, targets, weights = random_case(4, 2, 200, 2, 5, 6, 3, hidden)
    sse, grads = _run_kernel(30.0, hidden, coords, targets, weights)
    leaves = [weight.clone().requires_grad_() for weight in weights]
    prediction = local_global_pass(30.0, coords.repeat(2, 1, 1), leaves[0], leaves[1], leaves[2],
                                   leaves[3:3 + hidden], leaves[3 + hidden:])
    expected = ((prediction - targets) ** 2).sum((1, 2))
    expected.sum().backward()
    pairs = [(sse, expected.detach())] + [(grad, leaf.grad) for grad, leaf in zip(grads, leaves)]
    return max(float((got - want).norm() / want.norm().clamp_min(1e-30)) for got, want in pairs)
