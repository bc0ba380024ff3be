"""A SIREN shared by many signals, told which one by a code per signal (``inr encode`` of a set).

Every member ``m`` of a set has a code ``z_m`` (``code_dim`` numbers).  The code shifts the
pre-activations of the shared network's sine layers (shift modulation, as in functa and COIN++):

    h_0 = sin(ω0' (W_0 x + b_0 + M_0 z)),   h_l = sin(ω0 (W_l h_{l-1} + b_l + M_l z)),   y = W h_L + b

Two conditionings, chosen when the set is encoded (bench/RESULTS.md compares them):

* ``latent`` — codes are learned with the network (an auto-decoder) and shift every sine layer.
  Neighbouring codes decode to similar signals, and a new member is fitted by training its code
  alone against the frozen network (``inr add``).
* ``index`` — the baseline that feeds the member's index to a SIREN as extra inputs: the code is
  the index's binary digits as ±1, fixed, and enters the first layer only (which is what
  concatenating it to the coordinate does).

Rows of a training batch are members: ``forward(coords (N, n, d))`` evaluates row ``m`` with code
``m``.  Decoding passes ``slots`` (all zero for an unpartitioned model), which pick codes; a model
holding one code (:meth:`SetSiren.with_codes`) therefore decodes that code everywhere.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inrcli.errors import UsageError
from inrcli.models.base import Membered, ModelHints
from inrcli.models.config import SetSirenConfig
from inrcli.models.siren import bias_uniform_, siren_uniform_

# Learned codes start as N(0, 1): members differ from the first step, as index codes do.  Codes
# starting near zero (DeepSDF's 0.01) begin alike and take long to pull apart: 64 crops of 64×64,
# 400 steps, mean PSNR 24.95 dB with 0.01 against 33.44 dB with 1 (index codes: 31.64 dB).
CODE_INIT_STD = 1.0


def index_codes(members: int, code_dim: int, first: int = 0) -> torch.Tensor:
    """Binary digits of ``first … first + members - 1`` as ±1: ``(members, code_dim)`` float32."""
    index = torch.arange(first, first + members)[:, None]
    bits = (index >> torch.arange(code_dim)[None, :]) & 1
    return bits.float() * 2 - 1


def default_code_dim(budget: int) -> int:
    """64 numbers per learned code, fewer for budgets under 64,000 parameters (one per thousand),
    so the code's shifts (code_dim × width per layer) never crowd out the network itself."""
    return min(64, max(2, budget // 1000))


def index_code_dim(members: int) -> int:
    """Binary digits needed to tell ``members`` indices apart (at least one)."""
    return max(1, math.ceil(math.log2(max(members, 2))))


class SetSiren(nn.Module, Membered):
    """Shared SIREN with a shift-modulating code per member: ``(B, n, in_dim) -> (B, n, out_dim)``."""

    name = "set-siren"
    format_major = 4  # a new architecture, and member names in the signal description (docs/FORMAT.md)
    Config = SetSirenConfig
    options: frozenset[str] = frozenset({"code_dim", "conditioning", "members"})
    FIRST_LAYER = ("first.", "modulation.", "codes")  # the code's shifts are multiplied by ω0 like the first layer's

    def __init__(self, config: SetSirenConfig, codes: torch.Tensor | None = None):
        super().__init__()
        self.config = c = config
        self.first = nn.Linear(c.in_dim, c.width)
        siren_uniform_(self.first.weight, c.in_dim + self._modulated_inputs(), c.first_w0, first=True)
        bias_uniform_(self.first.bias, c.in_dim)
        self.hidden = nn.ModuleList(nn.Linear(c.width, c.width) for _ in range(c.hidden_layers))
        for layer in self.hidden:
            siren_uniform_(layer.weight, c.width, c.w0, first=False)
            bias_uniform_(layer.bias, c.width)
        self.head = nn.Linear(c.width, c.out_dim)
        siren_uniform_(self.head.weight, c.width, c.w0, first=False)
        bias_uniform_(self.head.bias, c.width)
        self.modulation = nn.Linear(c.code_dim, c.width * self.modulated_layers, bias=False)
        if c.conditioning == "index":  # the first layer's weights on the index inputs, SIREN-initialised
            siren_uniform_(self.modulation.weight, c.in_dim + c.code_dim, c.first_w0, first=True)
        else:
            siren_uniform_(self.modulation.weight, c.code_dim, c.w0, first=False)
        if codes is None:
            codes = (index_codes(c.members, c.code_dim) if c.conditioning == "index"
                     else torch.randn(c.members, c.code_dim) * CODE_INIT_STD)
        self.codes = nn.Parameter(codes.float().clone(), requires_grad=c.conditioning == "latent")

    def _modulated_inputs(self) -> int:
        return self.config.code_dim if self.config.conditioning == "index" else 0

    @property
    def modulated_layers(self) -> int:
        """Sine layers the code shifts: all of them for learned codes, the first for the index."""
        return self.config.modulated_layers

    @classmethod
    def for_budget(cls, in_dim: int, out_dim: int, budget: int, hints: ModelHints | None = None) -> SetSiren:
        """The widest set network whose parameters (codes included) fit ``budget``.

        ``hints.options`` may give ``members`` (default 1), ``code_dim`` (default
        :func:`default_code_dim` for learned codes, the index's binary digits otherwise) and ``conditioning`` (default ``latent``)."""
        hints = hints or ModelHints()
        hints.check_options(cls.name, cls.options)
        options = hints.options
        members = int(options.get("members") or 1)
        conditioning = options.get("conditioning") or "latent"
        if conditioning not in ("latent", "index"):
            raise UsageError(f"--conditioning must be latent or index, got {conditioning!r}")
        code_dim = options.get("code_dim") or (default_code_dim(budget) if conditioning == "latent"
                                               else index_code_dim(members))
        if conditioning == "index" and 2 ** code_dim < members:
            raise UsageError(f"--code-dim {code_dim} cannot number {members} members with binary digits")

        def config(width: int) -> SetSirenConfig:
            return SetSirenConfig(in_dim, out_dim, width, members, code_dim, conditioning,
                                  w0=hints.w0, first_w0=hints.first_w0)

        if config(1).param_count()["total"] > budget:
            raise UsageError(f"--params {budget:,} cannot hold {members} codes of {code_dim} numbers and a network")
        width = 1
        while config(width + 1).param_count()["total"] <= budget:
            width += 1
        return cls(config(width))

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    @property
    def members(self) -> int:
        return self.codes.shape[0]

    def with_codes(self, codes: torch.Tensor) -> SetSiren:
        """A model with the same shared network (the very same parameters) and ``codes (M, code_dim)``."""
        other = SetSiren.__new__(SetSiren)
        nn.Module.__init__(other)
        other.config = SetSirenConfig(**{**self.config.to_dict(), "members": codes.shape[0]})
        for name in ("first", "hidden", "head", "modulation"):
            setattr(other, name, getattr(self, name))
        other.codes = nn.Parameter(codes.detach().clone().float(), requires_grad=self.codes.requires_grad)
        return other

    def forward(self, coords: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        """``coords (B, n, in_dim)``; row ``b`` uses code ``slots[b]``, or code ``b`` without slots."""
        codes = self.codes if slots is None else self.codes[slots]
        if codes.shape[0] != coords.shape[0]:
            raise ValueError(f"{coords.shape[0]} rows of coordinates for {codes.shape[0]} codes")
        c = self.config
        shifts = self.modulation(codes).view(codes.shape[0], 1, self.modulated_layers, c.width)  # (B, 1, L, W)
        h = torch.sin(c.first_w0 * (self.first(coords) + shifts[:, :, 0]))
        for index, layer in enumerate(self.hidden, start=1):
            shift = shifts[:, :, index] if index < self.modulated_layers else 0.0
            h = torch.sin(c.w0 * (layer(h) + shift))
        return self.head(h)

    def param_count(self) -> dict[str, int]:
        return self.config.param_count()
