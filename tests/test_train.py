"""The training loop: stopping rules, the learning-rate schedule, the running score."""

import math
import time

import pytest
import torch

from inrcli.grid import Partitioning
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.sampling import GridSampler
from inrcli.train import TrainConfig, _cosine_lr, fit, psnr_from_mse


def tiny_model() -> tuple[LocalGlobalSiren, Partitioning]:
    part = Partitioning.even((16, 16), (2, 2))
    return LocalGlobalSiren.on_partitioning(2, 3, 3000, part), part


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
    model, part = tiny_model()
    target = torch.rand(16, 16, 3) * 2 - 1
    seen = []
    record = fit(model, SlowingSampler(GridSampler(target, part, 0.5)), TrainConfig(seconds=1.5, lr=1e-3),
                 on_step=seen.append)
    assert record.stopped_by == "seconds"
    assert seen[-1].lr < 0.05 * 1e-3  # the cosine followed the clock, not the early step rate
    assert seen[len(seen) // 2].lr > 0.3 * 1e-3


def test_the_cosine_runs_from_the_peak_to_the_floor():
    config = TrainConfig(lr=1e-3, min_lr_ratio=0.01)
    assert _cosine_lr(config, 0.0) == pytest.approx(1e-3)
    assert _cosine_lr(config, 0.5) == pytest.approx(0.505e-3)
    assert _cosine_lr(config, 1.0) == pytest.approx(1e-5)
    assert _cosine_lr(config, 3.0) == pytest.approx(1e-5)  # past the end stays at the floor
    assert _cosine_lr(TrainConfig(lr=1e-3, min_lr_ratio=1.0), 0.7) == pytest.approx(1e-3)  # --constant-lr


def test_psnr_of_a_mean_squared_error_follows_the_convention():
    assert psnr_from_mse(0.01, peak=2.0) == pytest.approx(26.0206, abs=1e-4)
    assert psnr_from_mse(0.0) == float("inf")
    assert psnr_from_mse(float("inf")) == float("-inf")  # an overflowed error: no crash, and not "perfect"
    assert math.isnan(psnr_from_mse(float("nan")))  # a diverged one is not a perfect fit either


def test_a_step_budget_stops_exactly_and_reports_every_step():
    torch.manual_seed(0)
    model, part = tiny_model()
    seen = []
    record = fit(model, GridSampler(torch.rand(16, 16, 3) * 2 - 1, part, 0.5), TrainConfig(steps=7),
                 on_step=seen.append)
    assert record.steps == 7 and record.stopped_by == "steps"
    assert [info.step for info in seen] == list(range(1, 8))
    assert all(info.planned_steps == 7 for info in seen)


def test_a_target_psnr_stops_once_the_full_score_reaches_it():
    torch.manual_seed(0)
    model, part = tiny_model()
    calls = []

    def full_psnr() -> float:
        calls.append(1)
        return 99.0

    config = TrainConfig(steps=500, target_psnr=-100.0, check_every=10)
    record = fit(model, GridSampler(torch.rand(16, 16, 3) * 2 - 1, part, 0.5), config, full_psnr=full_psnr)
    assert record.stopped_by == "target_psnr" and record.steps == 10 and len(calls) == 1
