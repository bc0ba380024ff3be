"""Local-Global SIREN (Ashkenazi & Treister, NeurIPS 2024): croppable by construction.

The domain is split into a grid of partitions.  Every partition owns a small local SIREN; a
small global SIREN and one merge layer are shared by all of them.  At each of the
``hidden_layers + 1`` depths::

    local  = sin(ω0 (h W_local[p] + b_local[p]))     per partition p: a batched matmul
    glob   = sin(ω0 (glob W_global + b_global))       shared
    h      = sin(ω0 ([local, glob] W_merge + b_merge)) shared merge, feeds the next local layer

and a per-partition linear layer maps ``h`` to the signal.  As in the published code the
merge layer is one layer reused at every depth, and local and global layers both see the
signal-wide coordinate.  Removing partition p's local weights removes exactly the signal in
partition p: that is ``crop``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from inrcli.errors import UsageError
from inrcli.grid import Partitioning, Range, auto_grid
from inrcli.models.base import ModelHints, Partitioned
from inrcli.models.config import LocalGlobalConfig
from inrcli.models.local_global_pass import local_global_pass
from inrcli.models.siren import SineLinear, bias_uniform_, siren_uniform_

PUBLISHED_GLOBAL_SHARE = 0.1  # the global branch and merge layer's share of the budget in the paper
MIN_PARAMS_PER_PARTITION = 700  # ~ a width-14 local network; fewer and automatic grids get coarser


class LocalGlobalSiren(Partitioned, nn.Module):
    """Local-Global SIREN: ``(B, n, in_dim), slots (B,) -> (B, n, out_dim)``.

    ``slots[b]`` names the local network that evaluates row ``b``; ``slots=None`` means row
    ``b`` belongs to slot ``b`` (training batches hold every slot in order).
    """

    name = "lg-siren"
    Config = LocalGlobalConfig
    LOCAL_PREFIXES = ("local_", "out_")
    FIRST_LAYER = ("local_weight.0", "local_bias.0", "global_layers.0.")
    """Names of the tensors of the first sine layers (quantised with more bits: their phases span the signal)."""
    options = frozenset({"partitions", "partition_size", "global_width", "global_fraction", "local_frequency"})
    """``partitions`` per axis (else automatic, about ``partition_size`` samples each); the global
    branch's width (else ``global_fraction`` of the budget, the published split being 10%); the
    least top frequency of the local first layers at initialisation (``local_frequency``, radians
    per sample; else SIREN's initialisation)."""

    def __init__(self, config: LocalGlobalConfig):
        super().__init__()
        self.config = c = config
        slots, w = c.partitioning.num_slots, c.local_width
        fan_ins = [c.in_dim] + [w] * c.hidden_layers
        self.local_weight = nn.ParameterList(nn.Parameter(torch.empty(slots, n, w)) for n in fan_ins)
        self.local_bias = nn.ParameterList(nn.Parameter(torch.empty(slots, w)) for _ in fan_ins)
        for depth, (weight, bias, fan_in) in enumerate(zip(self.local_weight, self.local_bias, fan_ins)):
            siren_uniform_(weight, fan_in, c.w0, first=depth == 0)
            bias_uniform_(bias, fan_in)
        with torch.no_grad():
            self.local_weight[0].mul_(_local_first_layer_gains(c).unsqueeze(-1))
        self.out_weight = nn.Parameter(torch.empty(slots, w, c.out_dim))
        self.out_bias = nn.Parameter(torch.empty(slots, c.out_dim))
        siren_uniform_(self.out_weight, w, c.w0, first=False)
        bias_uniform_(self.out_bias, w)
        global_layers = [SineLinear(c.in_dim, c.global_width, c.first_w0, first=True)]
        global_layers += [SineLinear(c.global_width, c.global_width, c.w0) for _ in range(c.hidden_layers)]
        self.global_layers = nn.ModuleList(global_layers)
        self.merge = SineLinear(w + c.global_width, w, c.w0)

    @property
    def partitioning(self) -> Partitioning:
        return self.config.partitioning

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    @classmethod
    def for_budget(cls, in_dim: int, out_dim: int, budget: int, hints: ModelHints) -> LocalGlobalSiren:
        """The largest network within ``budget`` parameters over the hints' sample grid."""
        hints.check_options(cls.name, cls.options)
        if hints.grid_shape is None:
            raise UsageError("this signal has no grid to partition; use --arch siren")
        options = hints.options
        grid = options.get("partitions") or automatic_grid(hints.grid_shape, options.get("partition_size", 32), budget)
        partitioning = Partitioning.even(hints.grid_shape, tuple(grid))
        hidden_layers = 3
        local_width, global_width = _widths_for_budget(in_dim, out_dim, budget, partitioning,
                                                       options.get("global_fraction") or PUBLISHED_GLOBAL_SHARE,
                                                       options.get("global_width"), hidden_layers)
        return cls(LocalGlobalConfig(in_dim, out_dim, partitioning, local_width, global_width, hidden_layers,
                                     w0=hints.w0, first_w0=hints.first_w0,
                                     local_frequency=_local_frequency(options.get("local_frequency"))))

    @classmethod
    def on_partitioning(cls, in_dim: int, out_dim: int, budget: int, partitioning: Partitioning,
                        **options) -> LocalGlobalSiren:
        """The largest network within ``budget`` on a given partition grid (for library callers)."""
        grid_options = {"partitions": partitioning.grid, **options}
        return cls.for_budget(in_dim, out_dim, budget, ModelHints(grid_shape=partitioning.full_shape,
                                                                  options=grid_options))

    def forward(self, coords: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_members(self._as_one_member(), coords, slots)[0]

    def squared_errors(self, coords: torch.Tensor, targets: torch.Tensor) -> torch.Tensor | None:
        """The squared error over a training batch of every partition, ``(1,)``
        (:meth:`squared_errors_members`); ``targets (B, n, out_dim)``."""
        return self.squared_errors_members(self._as_one_member(), coords, targets.unsqueeze(0))

    def _as_one_member(self) -> dict[str, torch.Tensor]:
        return {name: tensor.unsqueeze(0) for name, tensor in self.named_parameters()}

    def forward_members(self, weights: dict[str, torch.Tensor], coords: torch.Tensor,
                        slots: torch.Tensor | None = None) -> torch.Tensor:
        """M networks of this configuration at once: ``weights`` maps each parameter name to
        its M members' values, ``(M, *shape)``; ``coords (B, n, in_dim)`` are shared;
        returns ``(M, B, n, out_dim)``.  Every member's partitions share one batched product
        per layer (:func:`~inrcli.models.local_global_pass.local_global_pass`, features first)."""
        members, batch, n = weights["out_weight"].shape[0], *coords.shape[:2]
        features, layers = self._pass_inputs(weights, coords, slots)
        features = features.expand(members, *features.shape).reshape(members * batch, *features.shape[1:])
        values = local_global_pass(self.config.first_w0, features, *layers)  # (M·B, out_dim, n)
        return values.view(members, batch, -1, n).transpose(-1, -2)

    def squared_errors_members(self, weights: dict[str, torch.Tensor], coords: torch.Tensor,
                               targets: torch.Tensor) -> torch.Tensor | None:
        """Each member's squared error over a training batch, ``(M,)``, differentiable in the
        weights: :meth:`forward_members` (every partition, ``slots`` None) and the error in one
        compiled, cache-resident step (:mod:`inrcli.models.local_global_step`).  ``targets
        (M, B, n, out_dim)``.  None where the kernel cannot serve (not built here, not float32 on
        the CPU, no gradient wanted): the caller then evaluates the network and its error itself."""
        from inrcli.models import local_global_step

        tensors = [coords, targets, *weights.values()]
        if (not torch.is_grad_enabled() or any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors)
                or not local_global_step.serves(coords.shape[1])):
            return None
        members, batch, n, out_dim = targets.shape
        features, layers = self._pass_inputs(weights, coords, None)
        rows = targets.transpose(-1, -2).reshape(members * batch, out_dim, n)
        errors = local_global_step.local_global_squared_errors(self.config.first_w0, features, rows, *layers)
        return errors.view(members, batch).sum(1)

    def _pass_inputs(self, weights: dict[str, torch.Tensor], coords: torch.Tensor, slots: torch.Tensor | None):
        """The features-first inputs of the pass: ``features (B, d + 1, n)`` (the coordinates over
        a row of ones, not yet repeated per member) and the layers ``(first, merge, out, local,
        glob)``, one row per member and partition (``(M·B, …)``, biases as last columns, ω0 folded
        into the hidden and merge layers) — see :func:`~inrcli.models.local_global_pass.local_global_pass`."""
        c = self.config
        batch, n, _ = coords.shape
        members = weights["out_weight"].shape[0]

        def local(name: str) -> torch.Tensor:  # (M, S, *shape) → (M·B, *shape), row b through slots[b]
            tensor = weights[name] if slots is None else weights[name][:, slots]
            return tensor.reshape(members * batch, *tensor.shape[2:])

        def shared(tensor: torch.Tensor) -> torch.Tensor:  # (M, *shape) → (M·B, *shape), a member's on each row
            return tensor.unsqueeze(1).expand(members, batch, *tensor.shape[1:]).reshape(members * batch,
                                                                                      *tensor.shape[1:])

        def with_bias(weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:  # (…, out, in + 1)
            return torch.cat([weight, bias.unsqueeze(-1)], -1)

        def local_layer(depth: int) -> torch.Tensor:  # (M·B, w, fan_in + 1)
            return with_bias(local(f"local_weight.{depth}").mT, local(f"local_bias.{depth}"))

        def global_layer(depth: int) -> torch.Tensor:  # (M·B, g, fan_in + 1)
            prefix = f"global_layers.{depth}.linear."
            return shared(with_bias(weights[prefix + "weight"], weights[prefix + "bias"]))

        features = torch.cat([coords.mT, coords.new_ones(batch, 1, n)], 1)  # (B, d + 1, n)
        merge = shared(with_bias(weights["merge.linear.weight"], weights["merge.linear.bias"]))
        out = with_bias(local("out_weight").mT, local("out_bias"))
        hidden = range(1, c.hidden_layers + 1)
        return features, (torch.cat([local_layer(0), global_layer(0)], 1), merge * c.w0, out,
                          [local_layer(depth) * c.w0 for depth in hidden],
                          [global_layer(depth) * c.w0 for depth in hidden])

    def param_count(self) -> dict[str, int]:
        return self.config.param_count()

    def first_layer_gains(self) -> dict[str, float]:
        """``local_weight.0`` → the largest factor its start puts on SIREN's initialisation
        (:func:`_local_first_layer_gains`); 1 where the option is off, and for a loaded file,
        which does not record it."""
        return {"local_weight.0": float(_local_first_layer_gains(self.config).max())}

    def sine_biases(self) -> dict[str, float]:
        """Bias name → the ω0 of the sine it is added inside (``out_bias`` is linear)."""
        c = self.config
        biases = {"merge.linear.bias": c.w0}
        for depth in range(c.hidden_layers + 1):
            w0 = c.first_w0 if depth == 0 else c.w0
            biases |= {f"local_bias.{depth}": w0, f"global_layers.{depth}.linear.bias": w0}
        return biases

    def crop(self, region: tuple[Range, ...]) -> LocalGlobalSiren:
        """A new model holding only the partitions in ``region`` (absolute grid indices).

        The local tensors are index-selected, not zeroed: the new model is smaller.
        """
        old = self.partitioning
        new = old.crop(region)
        keep = torch.tensor([old.slot_of(index) for index in np.ndindex(*new.kept_grid)
                             for index in [tuple(i + lo for i, (lo, _) in zip(index, new.kept))]])
        cropped = LocalGlobalSiren(replace(self.config, partitioning=new))
        state = {}
        for name, tensor in self.state_dict().items():
            local = self.is_local(name)
            state[name] = tensor.index_select(0, keep).clone() if local else tensor.clone()
        cropped.load_state_dict(state)
        return cropped

    def extended(self, at: tuple[int, ...], new_shape: tuple[int, ...], local_frequency: float | None = None
                 ) -> tuple[LocalGlobalSiren, torch.Tensor, torch.Tensor]:
        """A model of a larger signal that holds this one at sample offset ``at``: this model's
        networks and shared layers, unchanged, plus freshly initialised local networks for the
        new partitions around it (``Partitioning.extended``), their first layers started at
        ``local_frequency`` (see ``options``; a file does not record it).

        Returns: the model, the slots of the new partitions and the slots the old ones moved to
        (``(n_new,)`` and ``(S_old,)`` int64).
        """
        grown, before = self.partitioning.extended(at, new_shape)
        model = LocalGlobalSiren(replace(self.config, partitioning=grown, local_frequency=local_frequency))
        moved = torch.tensor([grown.slot_of(tuple(i + b for i, b in zip(index, before)))
                              for index in np.ndindex(*self.partitioning.kept_grid)])
        model.adopt(self, moved)
        fresh = torch.tensor(sorted(set(range(grown.num_slots)) - set(moved.tolist())), dtype=torch.int64)
        return model, fresh, moved

    def subset(self, slots: torch.Tensor) -> SlotSubset:
        """This model evaluating only ``slots``, row ``b`` of a batch through ``slots[b]``."""
        return SlotSubset(self, slots)

    def adopt(self, other: LocalGlobalSiren, slots: torch.Tensor) -> None:
        """Copy ``other``'s shared layers, and its local networks into ``slots``, bit for bit."""
        own = self.state_dict()
        with torch.no_grad():
            for name, tensor in other.state_dict().items():
                if self.is_local(name):
                    own[name][slots] = tensor
                else:
                    own[name].copy_(tensor)


def _local_frequency(option: float | str | None) -> float | None:
    """The ``local_frequency`` option (a preset's number, or ``--local-frequency`` text): radians
    per sample in (0, π] (π is the Nyquist frequency), or ``siren`` (0) for SIREN's start."""
    if option is None or option in ("siren", 0):
        return None if option is None else 0.0
    try:
        value = float(option)
    except ValueError:
        value = math.nan
    if not 0 < value <= math.pi:
        raise UsageError(f"--local-frequency: expected radians per sample in (0, π] or 'siren', got {option!r}")
    return value


def _local_first_layer_gains(c: LocalGlobalConfig) -> torch.Tensor:
    """Per input axis, the factor on SIREN's first-layer initialisation that starts a local
    network's top frequency at ``c.local_frequency`` radians per sample, never below SIREN's.

    SIREN's bound U(-1/n, 1/n) under ω0 is made for one network over the whole signal: over a
    512-pixel axis it reaches 0.06 rad per pixel, so a local network over 32 of those pixels starts
    nearly linear (under 2 rad across it) and must grow its frequencies by training.  Returns
    ``(in_dim,)``; all ones where ``local_frequency`` is None or the inputs are not the grid's axes.
    """
    gains = torch.ones(c.in_dim)
    if c.local_frequency is None or c.partitioning.ndim != c.in_dim:
        return gains
    for axis in range(c.in_dim):
        _, span = c.partitioning.frame(axis)  # samples per 2 coordinate units
        siren_top = c.first_w0 / c.in_dim * 2.0 / span  # radians per sample
        gains[axis] = max(1.0, c.local_frequency / siren_top)
    return gains


class SlotSubset(nn.Module):
    """Trains some of a model's partitions only: ``(len(slots), n, d) -> (len(slots), n, out)``,
    row ``b`` through ``slots[b]`` (``inr extend`` trains the new partitions; the rest get no gradient)."""

    def __init__(self, model: LocalGlobalSiren, slots: torch.Tensor):
        super().__init__()
        self.model, self.slots = model, slots

    def forward(self, coords: torch.Tensor, slots: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(coords, self.slots)


def automatic_grid(shape: tuple[int, ...], partition_size, budget: int) -> tuple[int, ...]:
    """Partitions of about ``partition_size`` samples per axis (a number, or one per axis),
    coarser when the budget cannot feed that many local networks."""
    sizes = [float(p) for p in (partition_size if isinstance(partition_size, tuple) else (partition_size,) * len(shape))]
    grid = auto_grid(shape, tuple(sizes))
    while math.prod(grid) > 1 and math.prod(grid) * MIN_PARAMS_PER_PARTITION > 0.9 * budget:
        sizes = [s * 1.25 for s in sizes]
        grid = auto_grid(shape, tuple(sizes))
    return grid


def _widths_for_budget(in_dim: int, out_dim: int, budget: int, partitioning: Partitioning,
                       global_fraction: float, global_width: int | None, hidden_layers: int) -> tuple[int, int]:
    """(local_width, global_width) with the largest total not above ``budget``."""

    def count(w: int, g: int) -> dict[str, int]:
        return LocalGlobalConfig(in_dim, out_dim, partitioning, w, g, hidden_layers).param_count()

    best = None
    for w in range(1, 1025):
        if count(w, 1)["total"] > budget:
            break
        if global_width is not None:
            g = global_width
        else:  # widest global branch within its share of the budget and the budget itself
            g = 1
            while g < 4096:
                nxt = count(w, g + 1)
                if nxt["global"] + nxt["merge"] > global_fraction * budget or nxt["total"] > budget:
                    break
                g += 1
            shared = count(w, g)
            # a wider local network may shrink the global branch, but not below half its share
            if w > 1 and shared["global"] + shared["merge"] < 0.5 * global_fraction * budget:
                continue
        total = count(w, g)["total"]
        if total <= budget and (best is None or total > best[0]):
            best = (total, w, g)
    if best is None:
        raise UsageError(f"--params {budget} is too small for {partitioning.num_slots} partitions; "
                         f"use fewer partitions or a larger budget")
    return best[1], best[2]
