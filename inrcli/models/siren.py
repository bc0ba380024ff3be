"""SIREN (Sitzmann et al. 2020): an MLP with sine activations and its published initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from inrcli.models.base import ModelHints
from inrcli.models.config import SirenConfig
from inrcli.models.sine import sine


def siren_uniform_(weight: torch.Tensor, fan_in: int, w0: float, first: bool) -> None:
    """SIREN's initialisation: U(-1/n, 1/n) for a first layer, U(-√(6/n)/ω0, √(6/n)/ω0) after."""
    bound = 1.0 / fan_in if first else math.sqrt(6.0 / fan_in) / w0
    with torch.no_grad():
        weight.uniform_(-bound, bound)


def bias_uniform_(bias: torch.Tensor, fan_in: int) -> None:
    """PyTorch's default bias initialisation, U(-1/√n, 1/√n), as in the published code."""
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        bias.uniform_(-bound, bound)


class SineLinear(nn.Module):
    """The parameters of one sine layer ``sin(ω0 (x W^T + b))``, ``(N, in_dim) -> (N, out_dim)``,
    stored as ``nn.Linear`` stores them (``linear.weight (out_dim, in_dim)``, ``linear.bias``);
    the networks evaluate it with :func:`~inrcli.models.sine.sine`."""

    def __init__(self, in_dim: int, out_dim: int, w0: float, first: bool = False):
        super().__init__()
        self.w0 = w0
        self.linear = nn.Linear(in_dim, out_dim)
        siren_uniform_(self.linear.weight, in_dim, w0, first)
        bias_uniform_(self.linear.bias, in_dim)


class Siren(nn.Module):
    """SIREN: ``(B, n, in_dim) -> (B, n, out_dim)``; ``slots`` are accepted and ignored."""

    name = "siren"
    Config = SirenConfig
    FIRST_LAYER = ("body.0.",)
    """Names of the tensors of the first sine layer (quantised with more bits: its phases span the signal)."""
    options: frozenset[str] = frozenset()
    """Architecture options it takes (none: a plain MLP has only its width, set by the budget)."""

    def __init__(self, config: SirenConfig):
        super().__init__()
        self.config = config
        c = config
        layers = [SineLinear(c.in_dim, c.width, c.first_w0, first=True)]
        layers += [SineLinear(c.width, c.width, c.w0) for _ in range(c.hidden_layers)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c.width, c.out_dim)
        siren_uniform_(self.head.weight, c.width, c.w0, first=False)
        bias_uniform_(self.head.bias, c.width)

    @classmethod
    def for_budget(cls, in_dim: int, out_dim: int, budget: int, hints: ModelHints | None = None) -> Siren:
        """The widest SIREN whose parameter count does not exceed ``budget``."""
        hints = hints or ModelHints()
        hints.check_options(cls.name, cls.options)
        frequencies = {"w0": hints.w0, "first_w0": hints.first_w0}
        width = 1
        while SirenConfig(in_dim, out_dim, width + 1, **frequencies).param_count()["total"] <= budget:
            width += 1
        return cls(SirenConfig(in_dim, out_dim, width, **frequencies))

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    def forward(self, coords: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        weights = {name: tensor.unsqueeze(0) for name, tensor in self.named_parameters()}
        return self.forward_members(weights, coords)[0]

    def forward_members(self, weights: dict[str, torch.Tensor], coords: torch.Tensor,
                        slots: torch.Tensor | None = None) -> torch.Tensor:
        """M networks of this configuration at once: ``weights`` maps each parameter name to
        its M members' values, ``(M, *shape)``; ``coords (B, n, in_dim)`` are shared;
        returns ``(M, B, n, out_dim)`` (one batched product per layer)."""
        batch, n, d = coords.shape
        members = weights["head.weight"].shape[0]
        hidden = coords.reshape(1, batch * n, d).expand(members, batch * n, d)
        for depth, layer in enumerate(self.body):
            hidden = sine(layer.w0, weights[f"body.{depth}.linear.bias"], hidden,
                          weights[f"body.{depth}.linear.weight"].mT)
        out = torch.baddbmm(weights["head.bias"].unsqueeze(1), hidden, weights["head.weight"].mT)
        return out.view(members, batch, n, -1)

    def param_count(self) -> dict[str, int]:
        return self.config.param_count()

    def sine_biases(self) -> dict[str, float]:
        """Bias name → the ω0 of the sine it is added inside (the head is linear)."""
        return {f"body.{depth}.linear.bias": layer.w0 for depth, layer in enumerate(self.body)}
