"""Training batches drawn from a signal sampled on a grid."""

from __future__ import annotations

import math
import numpy as np
import torch

from inrcli.grid import Partitioning, axis_frames, sample_centres

# Fewest samples per step: small signals train on (nearly) every sample, since a few dozen
# points per step give gradients too noisy for the shared layers at the default learning rate.
MIN_BATCH = 8192
# Most samples per step: activations for backpropagation grow with the batch (about 5 kB per
# sample for a video network), so long clips sample a smaller share rather than use more memory.
MAX_BATCH = 1 << 17


class Sampler:
    """Where training batches come from.  Row ``b`` of a batch belongs to the model's slot ``b``
    (every partition of a partitioned model, in order; the one network of any other)."""

    batch_points: int
    """Samples per step."""
    held_out: np.ndarray | None = None
    """Indices of samples kept out of training, whose score is reported; None if none."""

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch number ``step``: coords ``(B, n, d)`` and targets ``(B, n, C)``."""
        raise NotImplementedError


class SlotView:
    """The part of a partitioning that a sampler draws from: only ``slots`` (``inr extend``
    trains the new partitions alone).  Row ``b`` of a batch is ``slots[b]``."""

    def __init__(self, partitioning: Partitioning, slots: torch.Tensor):
        self.partitioning, self.slots = partitioning, slots
        self.num_slots = len(slots)

    def slot_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        lows, highs = self.partitioning.slot_bounds()
        return lows[self.slots], highs[self.slots]

    def frame(self, axis: int) -> tuple[int, int]:
        return self.partitioning.frame(axis)


class GridSampler(Sampler):
    """Training batches of a gridded signal.

    With a partitioning, every step draws the same number of samples from *every* partition
    (row ``b`` of the batch is partition ``b``), a ``fraction`` of a partition's samples, so
    each local network gets a gradient every step.  The draws go in epochs: within one epoch a
    partition visits each of its samples once (in a random order, fixed by ``seed`` and the
    epoch number), which gives less noisy gradients than independent draws — 35.72 against
    35.53 dB on astronaut.png in a minute (bench/RESULTS.md).  Because the order depends only on
    (seed, epoch), batch ``step`` is the same however training got there, resumed runs included.

    Without a partitioning (plain SIREN) it draws ``fraction`` of all samples at random, or all
    of them in order when ``fraction >= 1``.  Either way a step draws at least ``MIN_BATCH``
    samples (or every sample, if fewer) and at most ``MAX_BATCH`` (unless ``fraction >= 1``
    asks for full batches).

    Args:
        values: ``(*shape, C)`` targets in network units.
        partitioning: the model's partitioning, or None.
        fraction: share of samples drawn per step.
        seed: fixes the epochs' visiting orders.
    """

    def __init__(self, values: torch.Tensor, partitioning: Partitioning | None, fraction: float, seed: int = 0):
        shape = tuple(values.shape[:-1])
        self.shape = shape
        self.seed = seed
        self.targets = values.reshape(-1, values.shape[-1])
        self.axes = [torch.from_numpy(sample_centres((0, n), n, n, *frame)).float()
                     for n, frame in zip(shape, axis_frames(partitioning, shape))]
        self.strides = torch.tensor([math.prod(shape[a + 1:]) for a in range(len(shape))])
        self.partitioning = partitioning
        total = self.targets.shape[0]
        self.every_sample = None
        if partitioning is not None:
            self.lows, self.highs = partitioning.slot_bounds()
            self.extents = self.highs - self.lows  # (S, d) samples per axis of each partition
            self.sizes = self.extents.prod(-1)
            self.largest = int(self.sizes.max())
            wanted = min(max(fraction * total, min(MIN_BATCH, total)), MAX_BATCH) / partitioning.num_slots
            self.per_slot = max(1, min(math.ceil(wanted), self.largest))
            self.steps_per_epoch = math.ceil(self.largest / self.per_slot)
            self._epoch, self._order, self._offsets = None, None, None
            if fraction >= 1.0:  # full batches: every sample of every partition, every step
                self.every_sample = self._all_samples(self.largest)
                self.per_slot = self.largest
        else:
            self.full = fraction >= 1.0 or total <= MIN_BATCH
            self.batch = total if self.full else min(MAX_BATCH, max(MIN_BATCH, math.ceil(fraction * total)))

    @property
    def batch_points(self) -> int:
        """Samples per step."""
        if self.partitioning is not None:
            return self.per_slot * self.partitioning.num_slots
        return self.batch

    def _all_samples(self, largest: int) -> torch.Tensor:
        """Every sample index of every partition: ``(S, largest, d)``; smaller partitions repeat
        their samples cyclically to the common length."""
        rows = []
        for low, high in zip(self.lows.tolist(), self.highs.tolist()):
            axes = [torch.arange(lo, hi) for lo, hi in zip(low, high)]
            index = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes))
            rows.append(index[torch.arange(largest) % len(index)])
        return torch.stack(rows)

    def _epoch_samples(self, step: int) -> torch.Tensor:
        """Sample indices of batch ``step``: ``(S, per_slot, d)``.

        One random order of the local positions ``0 … largest-1`` per epoch, shared by all
        partitions but entered at a random offset each; a partition smaller than the largest
        folds the positions onto its own samples.
        """
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = torch.randperm(self.largest, generator=generator)
            self._offsets = torch.randint(self.largest, (len(self.sizes), 1), generator=generator)
            self._epoch = epoch
        slots = position * self.per_slot + torch.arange(self.per_slot) + self._offsets
        local = self._order[slots % self.largest] % self.sizes[:, None]  # (S, per_slot) in each partition
        index = []
        for axis in reversed(range(len(self.shape))):  # unravel, last axis fastest
            index.append(local % self.extents[:, axis:axis + 1])
            local = local // self.extents[:, axis:axis + 1]
        return torch.stack(index[::-1], -1) + self.lows[:, None, :]

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.every_sample is not None:
            index = self.every_sample
        elif self.partitioning is not None:
            index = self._epoch_samples(step)
        elif self.full:
            index = torch.stack(torch.meshgrid(*[torch.arange(n) for n in self.shape], indexing="ij"), -1)
            index = index.reshape(1, -1, len(self.shape))
        else:
            u = torch.rand(1, self.batch, len(self.shape), generator=generator)
            index = (u * torch.tensor(self.shape)).long()
        coords = torch.stack([axis[index[..., a]] for a, axis in enumerate(self.axes)], dim=-1)
        flat = (index * self.strides).sum(-1)
        return coords, self.targets[flat]


class StackedSampler(Sampler):
    """Batches for an :class:`~inrcli.ensemble.Ensemble`: M signals of one shape, sampled at the
    same places (as each one's own sampler, with the same seed, would draw them).

    ``sampler`` draws from the members' targets laid side by side as channels, ``(*shape, M·C)``;
    a batch is coords ``(S, n, d)``, shared, and targets ``(M, S, n, C)``."""

    def __init__(self, sampler: Sampler, members: int):
        self.sampler, self.members = sampler, members
        self.held_out = sampler.held_out

    @property
    def batch_points(self) -> int:
        return self.sampler.batch_points

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        coords, targets = self.sampler.sample(generator, step)
        stacked = targets.reshape(*targets.shape[:-1], self.members, -1)
        return coords, stacked.movedim(-2, 0)
