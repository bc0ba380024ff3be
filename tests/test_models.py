import math
import time

import pytest
import torch

from inrcli.grid import Partitioning
from inrcli.models import MODELS, ModelHints, is_croppable, partitioning_of
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.siren import Siren
from inrcli.sampling import GridSampler
from inrcli.train import TrainConfig, fit


def build(name: str, budget: int = 3000):
    """A model of the registered architecture ``name`` for a 16×16 grid (2×2 partitions if it has any)."""
    cls = MODELS[name]
    options = {"partitions": (2, 2)} if is_croppable(cls) else {}
    model = cls.for_budget(2, 3, budget, ModelHints(grid_shape=(16, 16), options=options))
    return model, partitioning_of(model)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_and_improves(name):
    torch.manual_seed(0)
    model, part = build(name)
    y, x = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    target = torch.stack([torch.sin(3 * x), torch.cos(2 * y), x * y], -1)
    sampler = GridSampler(target, part, 0.5)
    coords, targets = sampler.sample(torch.Generator().manual_seed(2), 0)
    with torch.no_grad():
        before = torch.mean((model(coords) - targets) ** 2).item()
    record = fit(model, sampler, TrainConfig(steps=200, lr=2e-3))
    assert record.steps == 200 and record.stopped_by == "steps"
    with torch.no_grad():
        after = torch.mean((model(coords) - targets) ** 2).item()
    assert after < 0.15 * before, (before, after)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_budget_is_respected_and_counted_exactly(name):
    model, _ = build(name, budget=5000)
    actual = sum(p.numel() for p in model.parameters())
    assert model.param_count()["total"] == actual <= 5000
    assert actual > 4000  # the budget is used, not wasted


def test_local_global_split_follows_the_published_share():
    model = LocalGlobalSiren.on_partitioning(2, 3, 200_000, Partitioning.even((512, 512), (16, 16)))
    counts = model.param_count()
    assert 190_000 <= counts["total"] <= 200_000
    assert 0.05 <= (counts["global"] + counts["merge"]) / counts["total"] <= 0.11


def test_siren_initialisation_bounds():
    model = Siren.for_budget(2, 1, 20_000)
    first = model.body[0].linear.weight
    hidden = model.body[1].linear.weight
    n = hidden.shape[1]
    assert first.abs().max() <= 1 / 2 and first.abs().max() > 0.4
    assert hidden.abs().max() <= math.sqrt(6 / n) / 30


def test_lg_crop_keeps_exactly_the_selected_local_networks():
    torch.manual_seed(0)
    part = Partitioning.even((12, 12), (3, 3))
    model = LocalGlobalSiren.on_partitioning(2, 1, 4000, part)
    cropped = model.crop(((1, 3), (0, 2)))
    assert cropped.partitioning.num_slots == 4
    assert cropped.local_weight[0].shape[0] == 4
    coords = torch.rand(1, 5, 2) * 2 - 1
    for new_slot, old_slot in enumerate([3, 4, 6, 7]):
        a = model(coords, torch.tensor([old_slot]))
        b = cropped(coords, torch.tensor([new_slot]))
        assert torch.equal(a, b)


def test_slots_none_means_row_b_is_slot_b():
    torch.manual_seed(0)
    model, part = build("lg-siren")
    coords = torch.rand(part.num_slots, 7, 2) * 2 - 1
    assert torch.allclose(model(coords), model(coords, torch.arange(part.num_slots)))


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


class SlowingSampler:
    """A GridSampler that gets 20× slower after its first 30 steps, as on a machine that turns busy."""

    def __init__(self, inner: GridSampler):
        self.inner = inner

    def sample(self, generator, step):
        if step >= 30:
            time.sleep(0.02)
        return self.inner.sample(generator, step)


def test_a_time_budget_ends_on_a_decayed_learning_rate_even_if_steps_slow_down():
    torch.manual_seed(0)
    model, part = build("lg-siren")
    target = torch.rand(16, 16, 3) * 2 - 1
    seen = []
    record = fit(model, SlowingSampler(GridSampler(target, part, 0.5)), TrainConfig(seconds=1.5, lr=1e-3),
                 on_step=seen.append)
    assert record.stopped_by == "seconds"
    assert seen[-1].lr < 0.05 * 1e-3  # the cosine followed the clock, not the early step rate
    assert seen[len(seen) // 2].lr > 0.3 * 1e-3
