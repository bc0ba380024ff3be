import math

import numpy as np
import pytest
import torch

from inrcli.grid import Partitioning
from inrcli.models import MODELS, ModelHints, is_croppable, model_class, partitioning_of
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.sine import sine
from inrcli.models.siren import Siren
from inrcli.sampling import GridSampler
from inrcli.train import TrainConfig, fit


def build(name: str, budget: int = 3000):
    """A model of the registered architecture ``name`` for a 16×16 grid (2×2 partitions if it has any)."""
    cls = model_class(name)
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


def _first_local_bounds(model: LocalGlobalSiren) -> torch.Tensor:
    """Largest |weight| of the local first layers per input axis, ``(in_dim,)``."""
    return model.local_weight[0].detach().abs().amax(dim=(0, 2))


def test_local_first_layers_start_at_the_asked_frequency_per_sample():
    # a 512×256 picture on 16×8 partitions: SIREN's bound 1/2 under ω0 30 reaches 15 rad per
    # coordinate unit, i.e. 15 · 2/512 rad per pixel down the rows and 15 · 2/256 across
    grid = Partitioning.even((512, 256), (16, 8))
    torch.manual_seed(0)
    siren = LocalGlobalSiren.on_partitioning(2, 3, 100_000, grid)
    torch.manual_seed(0)
    sharp = LocalGlobalSiren.on_partitioning(2, 3, 100_000, grid, local_frequency=0.35)
    torch.manual_seed(0)
    zero = LocalGlobalSiren.on_partitioning(2, 3, 100_000, grid, local_frequency=0.0)
    siren_top = 15 * 2 / torch.tensor([512.0, 256.0])  # rad per sample
    assert torch.allclose(_first_local_bounds(siren), torch.tensor([0.5, 0.5]), atol=0.01)
    assert torch.allclose(_first_local_bounds(sharp) * 30 * 2 / torch.tensor([512.0, 256.0]),
                          torch.tensor([0.35, 0.35]), rtol=0.01)
    assert torch.allclose(sharp.local_weight[0] / (0.35 / siren_top).unsqueeze(-1), siren.local_weight[0])
    assert torch.equal(zero.local_weight[0], siren.local_weight[0])
    # only the local first layers: the global branch and every later layer keep SIREN's start
    for name, tensor in siren.state_dict().items():
        if name != "local_weight.0":
            assert torch.equal(tensor, sharp.state_dict()[name]), name


def test_local_frequency_never_lowers_sirens_start():
    # audio-like: ω0 3000 over 4096 samples already reaches 3000 · 2/4096 ≈ 1.46 rad per sample
    grid = Partitioning.even((4096,), (4,))
    torch.manual_seed(0)
    model = LocalGlobalSiren.for_budget(1, 1, 20_000, ModelHints(
        first_w0=3000.0, grid_shape=(4096,), options={"partitions": (4,), "local_frequency": 0.35}))
    assert model.config.partitioning == grid
    assert 0.9 < _first_local_bounds(model).item() <= 1.0  # SIREN's U(-1, 1) for one input


def test_extension_starts_new_partitions_at_the_asked_frequency():
    torch.manual_seed(0)
    model = LocalGlobalSiren.on_partitioning(2, 3, 40_000, Partitioning.even((512, 512), (2, 2)))
    grown, fresh, moved = model.extended((0, 0), (512, 1024), local_frequency=0.35)
    assert torch.equal(grown.local_weight[0][moved], model.local_weight[0])  # the old networks, untouched
    # the frame stays the old picture's (512 samples per 2 units), so 0.35 rad per sample is a
    # weight of 0.35 / (30 · 2/512) per unit of coordinate, 6× SIREN's 1/2
    top = 0.35 / (30 * 2 / 512)
    new_bounds = grown.local_weight[0][fresh].detach().abs().amax(dim=(0, 2))
    assert torch.all(new_bounds <= top + 1e-5) and torch.all(new_bounds > 0.95 * top), new_bounds


def test_each_kind_chooses_where_its_local_first_layers_start():
    from inrcli import api
    from inrcli.signals import signal_kind
    from inrcli.signals.base import LOCAL_FIRST_FREQUENCY, Signal

    picture = Signal("image", np.zeros((64, 64, 3), np.float32), {"bit_depth": 8})
    clip = Signal("audio", np.zeros((8192, 1), np.float32), {"rate": 44100})
    for signal in (picture, clip):
        model = api.build_model(signal, api.EncodeOptions(steps=1))
        assert model.config.local_frequency == LOCAL_FIRST_FREQUENCY
        own = api.build_model(signal, api.EncodeOptions(steps=1, model_options={"local_frequency": 0.0}))
        assert own.config.local_frequency == 0.0
    assert signal_kind("video").presets["lg-siren"].model["local_frequency"] == LOCAL_FIRST_FREQUENCY
    for smooth in ("shape", "volume"):  # no gain measured there: SIREN's initialisation
        assert "local_frequency" not in signal_kind(smooth).presets["lg-siren"].model


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


@pytest.mark.parametrize("batched", [False, True])
def test_the_fused_sine_layer_has_the_gradient_of_its_formula(batched):
    """``sine`` writes its own backward pass: it must agree with autograd's on sin(ω0 (x W + b))."""
    torch.manual_seed(0)
    lead = (3,) if batched else ()

    def tensor(*shape):
        return torch.randn(*lead, *shape, dtype=torch.float64, requires_grad=True)

    bias, x, weight = tensor(6), tensor(5, 4), tensor(4, 6)
    assert torch.autograd.gradcheck(lambda *inputs: sine(3.0, *inputs), (bias, x, weight))
    fused = sine(3.0, bias, x, weight)
    formula = torch.sin(3.0 * (x @ weight + bias.unsqueeze(-2)))
    grad = torch.randn_like(formula)
    assert torch.allclose(fused, formula)
    for ours, theirs in zip(torch.autograd.grad(fused, (bias, x, weight), grad),
                            torch.autograd.grad(formula, (bias, x, weight), grad)):
        assert torch.allclose(ours, theirs)


def _published_local_global(model: LocalGlobalSiren, coords: torch.Tensor, slots: torch.Tensor | None = None):
    """The paper's layers in plain torch, samples first: ``coords (B, n, 2) -> (B, n, out)``."""
    c = model.config
    pick = (lambda tensor: tensor) if slots is None else (lambda tensor: tensor[slots])
    hidden, glob = coords, coords
    for depth in range(c.hidden_layers + 1):
        w0 = c.first_w0 if depth == 0 else c.w0
        local = torch.sin(w0 * (hidden @ pick(model.local_weight[depth]) + pick(model.local_bias[depth]).unsqueeze(1)))
        layer = model.global_layers[depth].linear
        glob = torch.sin(w0 * (glob @ layer.weight.T + layer.bias))
        hidden = torch.sin(c.w0 * (torch.cat([local, glob], -1) @ model.merge.linear.weight.T + model.merge.linear.bias))
    return hidden @ pick(model.out_weight) + pick(model.out_bias).unsqueeze(1)


@pytest.mark.parametrize("slots", [None, [3, 0, 3]])
def test_the_local_global_pass_has_the_gradient_of_the_formula(slots):
    """The features-first pass writes its own backward pass: every weight's gradient must agree
    with autograd's through the published formula (float64), with and without slots."""
    torch.manual_seed(2)
    model = LocalGlobalSiren.on_partitioning(2, 3, 3000, Partitioning.even((8, 8), (2, 2))).double()
    slots = None if slots is None else torch.tensor(slots)
    coords = torch.rand(4 if slots is None else 3, 5, 2, dtype=torch.float64) * 2 - 1
    ours, theirs = model(coords, slots), _published_local_global(model, coords, slots)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-12)
    grad = torch.randn_like(ours)
    names, params = zip(*model.named_parameters())
    for name, a, b in zip(names, torch.autograd.grad(ours, params, grad), torch.autograd.grad(theirs, params, grad)):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name


def test_the_local_global_pass_trains_local_weights_under_frozen_shared_ones():
    """With the shared layers frozen (as ``inr extend`` trains), the pass skips their gradients
    and still gives the local weights theirs, equal to the formula's."""
    torch.manual_seed(3)
    model = LocalGlobalSiren.on_partitioning(2, 3, 3000, Partitioning.even((8, 8), (2, 2)))
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(model.is_local(name))
    coords = torch.rand(4, 6, 2) * 2 - 1
    model(coords).square().sum().backward()
    assert all((parameter.grad is not None) == model.is_local(name) for name, parameter in model.named_parameters())
    ours = {name: parameter.grad for name, parameter in model.named_parameters() if model.is_local(name)}
    model.zero_grad()
    _published_local_global(model, coords).square().sum().backward()
    for name, grad in ours.items():
        assert torch.allclose(grad, dict(model.named_parameters())[name].grad, rtol=1e-4, atol=1e-5), name


def test_local_global_forward_is_the_published_formula():
    """The forward pass (merge as two summed products, ω0 inside the products) computes the
    paper's layers: local sine, global sine, merge of the concatenation, per-partition output."""
    torch.manual_seed(1)
    model = LocalGlobalSiren.on_partitioning(2, 3, 3000, Partitioning.even((8, 8), (2, 2)))
    c = model.config
    coords = torch.rand(4, 9, 2) * 2 - 1
    hidden, glob = coords, coords
    for depth in range(c.hidden_layers + 1):
        w0 = c.first_w0 if depth == 0 else c.w0
        local = torch.sin(w0 * (hidden @ model.local_weight[depth] + model.local_bias[depth].unsqueeze(1)))
        layer = model.global_layers[depth].linear
        glob = torch.sin(w0 * (glob @ layer.weight.T + layer.bias))
        hidden = torch.sin(c.w0 * (torch.cat([local, glob], -1) @ model.merge.linear.weight.T + model.merge.linear.bias))
    expected = hidden @ model.out_weight + model.out_bias.unsqueeze(1)
    assert torch.allclose(model(coords), expected, atol=1e-5)
