"""inr's own Adam (inrcli/optim.py) takes exactly torch.optim.Adam's steps, without importing
torch's compiler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from inrcli.grid import Partitioning
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.optim import Adam


def _model() -> LocalGlobalSiren:
    torch.manual_seed(0)
    return LocalGlobalSiren.on_partitioning(2, 3, 3000, Partitioning.even((16, 16), (2, 2)))


def _train(model, optimizer, steps: int, lrs=None) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        if lrs:
            optimizer.param_groups[0]["lr"] = lrs[step]
        coords = torch.rand(4, 64, 2, generator=generator) * 2 - 1
        targets = torch.rand(4, 64, 3, generator=generator)
        optimizer.zero_grad(set_to_none=True)
        ((model(coords) - targets) ** 2).mean().backward()
        optimizer.step()
    return [p.detach().clone() for p in model.parameters()]


def test_the_same_steps_as_torch_adam_bit_for_bit():
    lrs = [1e-3 * (1 - k / 40) for k in range(40)]  # a schedule set through param_groups, as training does
    first, second = _model(), _model()
    ours = _train(first, Adam(first.parameters(), lr=1e-3), 40, lrs)
    theirs = _train(second, torch.optim.Adam(second.parameters(), lr=1e-3), 40, lrs)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_a_scaled_parameter_takes_torch_adams_steps_at_the_scaled_rate():
    first, second, plain = _model(), _model(), _model()
    names = [name for name, _ in first.named_parameters()]
    ours = _train(first, Adam(first.parameters(), lr=1e-3, lr_scales=[4.0 if n == "out_bias" else 1.0 for n in names]), 10)
    params = dict(second.named_parameters())
    groups = [{"params": [p for n, p in params.items() if n != "out_bias"]}, {"params": [params["out_bias"]], "lr": 4e-3}]
    theirs = _train(second, torch.optim.Adam(groups, lr=1e-3), 10)  # ×4 of a double is exact: the same rate
    unscaled = _train(plain, Adam(plain.parameters(), lr=1e-3), 10)
    for name, a, b in zip(names, ours, theirs):
        assert torch.equal(a, b), name
    assert not torch.equal(ours[names.index("out_bias")], unscaled[names.index("out_bias")])  # the scale mattered


def test_state_dicts_go_both_ways_with_torch_adam():
    model = _model()
    ours = Adam(model.parameters(), lr=1e-3)
    _train(model, ours, 5)
    copy = _model()
    copy.load_state_dict(model.state_dict())
    theirs = torch.optim.Adam(copy.parameters(), lr=1e-3)
    theirs.load_state_dict(ours.state_dict())
    resumed = Adam(copy.parameters(), lr=1e-3)
    resumed.load_state_dict(theirs.state_dict())
    after_ours, after_resumed = _train(model, ours, 5), _train(copy, resumed, 5)
    for a, b in zip(after_ours, after_resumed):
        assert torch.equal(a, b)


def test_training_does_not_import_torchs_compiler():
    code = ("import sys; from tests.test_optim import _model, _train; from inrcli.optim import Adam; "
            "m = _model(); _train(m, Adam(m.parameters(), lr=1e-3), 3); "
            "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
