"""A SIREN shared by many signals, told which one by a code per signal (``inr encode`` of a set).

Every member ``m`` of a set has a code ``z_m`` (``code_dim`` numbers).  The code shifts the
pre-activations of the shared network's sine layers (shift modulation, as in functa and COIN++):

    h_0 = sin(ω0' (W_0 x + b_0 + M_0 z)),   h_l = sin(ω0 (W_l h_{l-1} + b_l + M_l z)),   y = W h_L + b

Three conditionings, chosen when the set is encoded (bench/RESULTS.md compares them):

* ``latent`` — codes are learned with the network (an auto-decoder) and shift every sine layer.
  Neighbouring codes decode to similar signals, and a new member is fitted by training its code
  alone against the frozen network (``inr add``).
* ``spatial`` — as ``latent``, but a code is a grid of small vectors laid over the signal
  (spatial functa, Bauer et al. 2023): the shifts at coordinate ``x`` come from the code
  interpolated (multilinearly, clamped at the border) at ``x``, ``z(x)``, so each part of a
  member has numbers of its own.  A new member's code is fitted far better and faster than a
  global one (bench/RESULTS.md, "Sets"); in between two codes lies more of a blend.
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
from inrcli.models.config import CONDITIONINGS, SetSirenConfig
from inrcli.models.siren import bias_uniform_, siren_uniform_

# A spatial set's network is this wide unless the budget is smaller: every member added later is
# fitted through it, so its width is the cost of each step of ``inr add``.  Probed on 64 crops of
# 64×64 (90 s set, codes of 16×16 cells; 8 held-back crops added in 4 s): width 64, 8 numbers per
# cell, 30.7 dB added; width 96, 29.4 dB (fewer steps in the same time); 16 per cell, 35.6 dB.
SPATIAL_WIDTH = 64
# Samples per code cell along each axis by default (16×16 cells for 64×64 pictures; 32×32 cells of
# 4 numbers did worse than 16×16 of 8 on the crops above: 28.0 against 30.7 dB added).
SAMPLES_PER_CELL = 4
# Spatial codes learn this many times faster than the network: at the network's 1e-3 a grid of
# codes barely moves (64 crops, 90 s: codes at 1e-2, 25.2 dB; at 5e-2, 29.3 dB; at 0.1, 31.8 dB).
SPATIAL_CODE_LR_SCALE = 100.0

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
    Config = SetSirenConfig
    options: frozenset[str] = frozenset({"code_dim", "conditioning", "members", "code_grid"})
    FIRST_LAYER = ("first.", "modulation.", "codes")  # the code's shifts are multiplied by ω0 like the first layer's

    @property
    def format_major(self) -> int:
        """4: the architecture and its member names (docs/FORMAT.md); 6: spatial codes, which a
        reader of 4.x or 5.x would refuse field by field rather than by version."""
        return 6 if self.config.conditioning == "spatial" else 4

    @staticmethod
    def default_code_grid(shape: tuple[int, ...]) -> tuple[int, ...]:
        """Cells per axis of a spatial code for members of ``shape`` (:func:`default_code_grid`)."""
        return default_code_grid(shape)

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
        self.modulation = nn.Linear(c.code_channels, c.width * self.modulated_layers, bias=False)
        if c.conditioning == "index":  # the first layer's weights on the index inputs, SIREN-initialised
            siren_uniform_(self.modulation.weight, c.in_dim + c.code_dim, c.first_w0, first=True)
        else:
            siren_uniform_(self.modulation.weight, c.code_channels, c.w0, first=False)
        if codes is None:
            codes = (index_codes(c.members, c.code_dim) if c.conditioning == "index"
                     else torch.randn(c.members, c.code_dim) * CODE_INIT_STD)
        self.codes = nn.Parameter(codes.float().clone(), requires_grad=c.conditioning != "index")

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
        if conditioning not in CONDITIONINGS:
            raise UsageError(f"--conditioning must be one of {', '.join(CONDITIONINGS)}, got {conditioning!r}")
        if conditioning == "spatial":
            return cls(_spatial_config(in_dim, out_dim, budget, hints, members))
        code_dim = options.get("code_dim") or (default_code_dim(budget) if conditioning == "latent"
                                               else index_code_dim(members))
        if conditioning == "index" and 2 ** code_dim < members:
            raise UsageError(f"--code-dim {code_dim} cannot number {members} members with binary digits")

        def config(width: int) -> SetSirenConfig:
            return SetSirenConfig(in_dim, out_dim, width, members, code_dim, conditioning,
                                  w0=hints.w0, first_w0=hints.first_w0)

        if config(1).param_count()["total"] > budget:
            raise UsageError(f"--params {budget:,} cannot hold {members} codes of {code_dim} numbers and a network")
        return cls(config(_widest(lambda width: config(width).param_count()["total"] <= budget)))

    def lr_scales(self) -> dict[str, float]:
        """Learning-rate factors of parameters that train faster than the network (by name)."""
        return {"codes": SPATIAL_CODE_LR_SCALE} if self.config.conditioning == "spatial" else {}

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
        if c.conditioning == "spatial":  # the code at each coordinate: (B, n, L, W) shifts
            local = grid_features(codes.view(-1, *c.code_grid, c.code_channels), coords)
            shifts = self.modulation(local).view(*coords.shape[:2], self.modulated_layers, c.width)
        else:  # one code per row: (B, 1, L, W)
            shifts = self.modulation(codes).view(codes.shape[0], 1, self.modulated_layers, c.width)
        h = torch.sin(c.first_w0 * (self.first(coords) + shifts[:, :, 0]))
        for index, layer in enumerate(self.hidden, start=1):
            shift = shifts[:, :, index] if index < self.modulated_layers else 0.0
            h = torch.sin(c.w0 * (layer(h) + shift))
        return self.head(h)

    def param_count(self) -> dict[str, int]:
        return self.config.param_count()


def grid_features(grids: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Multilinear interpolation of per-row grids at coordinates in [−1, 1].

    Cell ``i`` of ``G`` along an axis is centred at ``(2i + 1)/G − 1`` (the signal's own sample
    convention); beyond the outermost centres the border cell's value holds.

    Args:
        grids: ``(B, *G, C)``, one to three axes, rows first.
        coords: ``(B, n, d)`` with ``d = len(G)``.
    Returns:
        ``(B, n, C)``.
    """
    rows, samples, dims = coords.shape
    channels = grids.shape[-1]
    volume = grids.movedim(-1, 1)  # (B, C, *G): grid_sample's layout
    points = coords.flip(-1)  # grid_sample's last axis is (x, y[, z]): the axes reversed
    if dims == 1:  # a line is a picture one cell high, sampled along its only row
        volume, points = volume.unsqueeze(2), torch.cat([points, torch.zeros_like(points)], -1)
    points = points.reshape(rows, samples, *[1] * (volume.dim() - 3), points.shape[-1])
    out = torch.nn.functional.grid_sample(volume, points, mode="bilinear", padding_mode="border", align_corners=False)
    return out.reshape(rows, channels, samples).transpose(1, 2)


def _widest(fits) -> int:
    """The largest width ≥ 1 for which ``fits(width)`` holds (``fits(1)`` is assumed)."""
    width = 1
    while fits(width + 1):
        width += 1
    return width


def default_code_grid(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Cells per axis of a spatial code for signals of ``shape``: one per ``SAMPLES_PER_CELL``
    samples, fewer where that would exceed a code's 4,096 numbers at one number per cell."""
    grid = [max(1, round(n / SAMPLES_PER_CELL)) for n in shape]
    while math.prod(grid) > 1024:  # leave room for at least 4 numbers per cell
        grid = [max(1, (cells + 1) // 2) for cells in grid]
    return tuple(grid)


def _spatial_config(in_dim: int, out_dim: int, budget: int, hints: ModelHints, members: int) -> SetSirenConfig:
    """A spatial set's config: with ``code_dim`` (numbers per cell) given, the widest network that
    fits beside such codes; else a network of ``SPATIAL_WIDTH`` (narrower if it would take over half
    the budget) and as many numbers per cell as fit."""
    grid = tuple(hints.options.get("code_grid") or (1,) * in_dim)
    if len(grid) != in_dim:
        raise UsageError(f"a code grid of {len(grid)} axes for signals of {in_dim}")
    cells = math.prod(grid)

    def config(width: int, channels: int) -> SetSirenConfig:
        return SetSirenConfig(in_dim, out_dim, width, members, cells * channels, "spatial",
                              w0=hints.w0, first_w0=hints.first_w0, code_grid=grid)

    def fits(width: int, channels: int) -> bool:
        return config(width, channels).param_count()["total"] <= budget

    channels = hints.options.get("code_dim")
    if not fits(1, channels or 1):
        raise UsageError(f"--params {budget:,} cannot hold {members} codes of {cells} cells and a network")
    if channels is not None:
        if channels * cells > 4096:
            raise UsageError(f"a code of {cells} cells × {channels} numbers exceeds 4,096 numbers")
        return config(_widest(lambda w: fits(w, channels)), channels)
    # the network stays at SPATIAL_WIDTH even when the codes leave room (it sets the speed of
    # adding), and takes at most half of a small budget
    width = min(SPATIAL_WIDTH, _widest(lambda w: config(w, 1).param_count()["total"] <= max(budget // 2, 1) or w == 1))
    channels = 1
    while (channels + 1) * cells <= 4096 and fits(width, channels + 1):
        channels += 1
    return config(width, channels)
