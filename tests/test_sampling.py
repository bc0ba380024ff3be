"""Training batches: every partition every step, epochs that visit each sample once, determinism."""

import torch

from inrcli.grid import Partitioning
from inrcli.sampling import MAX_BATCH, MIN_BATCH, GridSampler


def test_full_batches_visit_every_sample_of_every_partition():
    part = Partitioning.even((7, 6), (2, 2))  # uneven partitions: 3 or 4 rows
    values = torch.arange(42, dtype=torch.float32).reshape(7, 6, 1)
    sampler = GridSampler(values, part, 1.0)
    first = sampler.sample(torch.Generator().manual_seed(0), 0)
    second = sampler.sample(torch.Generator().manual_seed(1), 1)
    assert torch.equal(first[1], second[1])  # no randomness
    assert set(first[1].flatten().tolist()) == set(range(42))


def test_partition_samples_are_visited_once_per_epoch():
    part = Partitioning.even((8, 12), (2, 3))  # 4×4 partitions of 16 samples
    values = torch.arange(96, dtype=torch.float32).reshape(8, 12, 1)
    sampler = GridSampler(values, part, 0.25)
    sampler.per_slot, sampler.steps_per_epoch = 4, 4  # force 4 steps of 4 samples per 16-sample partition
    generator = torch.Generator().manual_seed(0)
    epoch = torch.cat([sampler.sample(generator, step)[1] for step in range(4)], dim=1)  # (S, 16, 1)
    for row in range(part.num_slots):
        seen = epoch[row].flatten().tolist()
        assert len(set(seen)) == 16  # every sample of the partition exactly once
    again = GridSampler(values, part, 0.25)
    again.per_slot, again.steps_per_epoch = 4, 4
    assert torch.equal(again.sample(torch.Generator().manual_seed(5), 2)[1], sampler.sample(generator, 2)[1])


def test_batch_sizes_stay_between_the_floor_and_the_ceiling():
    part = Partitioning.even((512, 512), (8, 8))
    values = torch.zeros(512, 512, 1)
    assert GridSampler(values, part, 1e-6).batch_points >= MIN_BATCH  # tiny fractions still learn
    assert GridSampler(values, part, 0.9).batch_points <= MAX_BATCH  # large ones stay within memory
    whole = GridSampler(torch.zeros(5, 4, 1), None, 0.1)
    coords, targets = whole.sample(torch.Generator().manual_seed(0), 0)
    assert coords.shape == (1, 20, 2) and targets.shape == (1, 20, 1)  # a small signal trains on every sample


def test_coordinates_are_the_sample_centres_of_their_targets():
    values = torch.arange(12, dtype=torch.float32).reshape(3, 4, 1)
    sampler = GridSampler(values, Partitioning.even((3, 4), (1, 2)), 1.0)
    coords, targets = sampler.sample(torch.Generator().manual_seed(0), 0)
    rows = torch.round(((coords[..., 0] + 1) * 3 / 2) - 0.5).long()
    cols = torch.round(((coords[..., 1] + 1) * 4 / 2) - 0.5).long()
    assert torch.equal(targets[..., 0], (rows * 4 + cols).float())
