"""What every architecture provides, and the optional capability of partitioned ones.

An architecture is an ``nn.Module`` subclass with:

* ``name`` — its registry name; ``Config`` — a frozen dataclass with ``to_dict`` /
  ``from_dict`` (checked, for untrusted files) / ``param_count``, which is what the file stores
  and what rebuilds the model;
* ``for_budget(in_dim, out_dim, budget, hints)`` — the largest model within ``budget``
  parameters, from :class:`ModelHints` (the signal's grid, frequencies, architecture options);
* ``forward(coords (B, n, in_dim), slots (B,) | None) -> (B, n, out_dim)``;
* ``forward_members(weights, coords, slots)`` — optional: M networks of one configuration at
  once, ``weights`` each ``(M, *shape)``, ``-> (M, B, n, out_dim)`` (what an ensemble of
  independent fits calls; ``forward`` is its M = 1 case, so both run the same code);
* ``out_dim`` and ``param_count()``;
* ``FIRST_LAYER`` — prefixes of the first sine layer's tensor names (quantised with more bits);
* ``first_layer_gains()`` — optional: first-layer weight name → the factor its initialisation
  puts on SIREN's (quantised storage gives such a tensor a bit more);
* ``sine_biases()`` — optional: bias name → the ω0 of the sine it is added inside (such a bias
  counts only modulo 2π/ω0, so quantised storage moves it into one period first).

Architectures whose parameters split into one local network per partition of the signal's grid
also subclass :class:`Partitioned`: they can be cropped, and decoding blends their partitions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from inrcli.errors import UsageError
from inrcli.grid import Partitioning, Range


@dataclass(frozen=True)
class ModelHints:
    """What an architecture may use to size itself for one signal."""

    first_w0: float = 30.0
    """Frequency factor of the first layer (the signal's kind chooses it)."""
    w0: float = 30.0
    """Frequency factor of the hidden layers."""
    grid_shape: tuple[int, ...] | None = None
    """Samples per axis of the signal's grid, or None where samples lie on no grid (graphs)."""
    options: dict = field(default_factory=dict)
    """Architecture options: the kind's preset, overridden by the user's flags."""
    user_options: frozenset[str] = frozenset()
    """Which of ``options`` the user set (an option the architecture lacks is then an error)."""

    def check_options(self, arch: str, accepted: frozenset[str]) -> None:
        """Refuse a user's option that ``arch`` does not have."""
        for name in sorted(self.user_options - accepted):
            raise UsageError(f"--{name.replace('_', '-')} does not apply to {arch}")


class Partitioned:
    """Capability of an architecture with one local network per partition of the signal's grid."""

    LOCAL_PREFIXES: tuple[str, ...] = ()
    """Names of the weight tensors holding one row per partition (slot) start with one of these."""

    @property
    def partitioning(self) -> Partitioning:
        raise NotImplementedError

    @classmethod
    def is_local(cls, name: str) -> bool:
        """Whether weight tensor ``name`` holds one row per kept partition ``(S, …)``."""
        return name.startswith(cls.LOCAL_PREFIXES)

    def crop(self, region: tuple[Range, ...]):
        """A new model holding only the partitions in ``region`` (absolute grid indices)."""
        raise NotImplementedError


class Membered:
    """Capability of an architecture that holds many signals, one code per member (a set).

    ``codes`` is a ``(members, code_dim)`` parameter; ``forward(coords (B, n, d), slots)`` uses
    code ``slots[b]`` for row ``b`` (code ``b`` without slots)."""

    codes: object

    def with_codes(self, codes):
        """A model sharing this one's network (the same parameters) with ``codes (M, code_dim)``."""
        raise NotImplementedError


def is_membered(model) -> bool:
    """Whether ``model`` is a set of signals with a code each."""
    return isinstance(model, Membered)


def partitioning_of(model) -> Partitioning | None:
    """The partition grid of a partitioned model, None for any other."""
    return model.partitioning if isinstance(model, Partitioned) else None


def local_tensor_test(model):
    """``name → bool``: whether a weight tensor of ``model`` is a partition's (never, unpartitioned)."""
    return model.is_local if isinstance(model, Partitioned) else (lambda name: False)


@dataclass(frozen=True)
class TensorRole:
    """What quantised storage needs to know of one weight tensor (:func:`inrcli.quantize.tensor_bits`)."""

    first_w0: float | None = None
    """The ω0 of the first sine layer the tensor belongs to (its phases span the signal), else None."""
    phase_w0: float | None = None
    """For a bias added inside ``sin(ω0 (·))``: that ω0 (the bias counts modulo 2π/ω0), else None."""
    bias: bool = False
    """Whether the tensor is a bias (an error in it shifts every output of its layer alike)."""
    shared: bool = False
    """Shared by every partition of a partitioned model: an error in it reaches the whole signal."""
    start_gain: float = 1.0
    """The factor a first layer's initialisation puts on SIREN's (``first_layer_gains``): its
    weights then span more, and the same bits make a coarser grid."""


_BIAS_NAME = re.compile(r"bias(\.\d+)?$")


def tensor_roles(model):
    """``name → TensorRole`` for the weight tensors of ``model`` (an ensemble answers for the
    architecture of its members, whose files it writes)."""
    model = getattr(model, "architecture", model)
    prefixes = getattr(model, "FIRST_LAYER", ())
    first_w0 = float(getattr(getattr(model, "config", None), "first_w0", 30.0))
    gains = model.first_layer_gains() if hasattr(model, "first_layer_gains") else {}
    phases = model.sine_biases() if hasattr(model, "sine_biases") else {}
    is_local = local_tensor_test(model)
    partitioned = isinstance(model, Partitioned)

    def role(name: str) -> TensorRole:
        return TensorRole(first_w0 if name.startswith(prefixes) else None, phases.get(name),
                          bool(_BIAS_NAME.search(name)), partitioned and not is_local(name), gains.get(name, 1.0))
    return role


def lr_scales(model) -> dict[str, float]:
    """``name → factor`` on the learning rate for parameters of ``model`` that learn faster than
    the rest (a model's optional ``lr_scales()``); parameters not named train at the rate itself."""
    return model.lr_scales() if hasattr(model, "lr_scales") else {}


def mlp_param_count(in_dim: int, width: int, hidden_layers: int, out_dim: int | None = None) -> int:
    """Parameters of a first layer ``in_dim → width``, ``hidden_layers`` layers ``width → width``
    and, with ``out_dim``, a linear head ``width → out_dim`` (weights and biases)."""
    body = (in_dim * width + width) + hidden_layers * (width * width + width)
    return body + (0 if out_dim is None else width * out_dim + out_dim)
