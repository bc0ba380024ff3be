"""Every architecture's config: plain data that a file stores and that rebuilds the model, and its
checked rebuilding from untrusted metadata.  No torch here, so a file's header can be read and
described (``inr info``) without it; each architecture's module builds its network from its config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

from inrcli.errors import InrFileError
from inrcli.grid import Partitioning
from inrcli.models.base import mlp_param_count

# Bounds that keep a hostile file from asking for an absurd allocation.
LIMITS = {"in_dim": (1, 1024), "out_dim": (1, 64), "width": (1, 4096), "local_width": (1, 4096),
          "global_width": (1, 4096), "hidden_layers": (0, 32), "members": (1, 1 << 20), "code_dim": (1, 4096),
          "code_grid": (1, 4096)}


def checked_config(cls, data: object, **converters):
    """Build the config dataclass ``cls`` from a metadata dict, checking every field.

    ``converters`` maps a field name to a function that turns its raw value into the field's
    value (raising ``InrFileError``); other fields must be int or float as annotated.
    """
    if not isinstance(data, dict):
        raise InrFileError("model config is not an object")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("stored", True)}
    unknown = set(data) - set(fields)
    if unknown:
        raise InrFileError(f"model config has unknown field(s): {', '.join(sorted(unknown))}")
    values = {}
    for name, spec in fields.items():
        if name not in data:
            if spec.default is dataclasses.MISSING:
                raise InrFileError(f"model config lacks {name!r}")
            continue
        raw = data[name]
        if name in converters:
            values[name] = converters[name](raw)
        elif spec.type == "int":
            values[name] = _checked_int(name, raw)
        elif spec.type == "float":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not abs(raw) < 1e6:
                raise InrFileError(f"model config {name!r} must be a finite number, got {raw!r}")
            values[name] = float(raw)
        else:
            values[name] = raw
    return cls(**values)


def _checked_int(name: str, raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InrFileError(f"model config {name!r} must be a whole number, got {raw!r}")
    lo, hi = LIMITS.get(name, (0, 1 << 31))
    if not lo <= raw <= hi:
        raise InrFileError(f"model config {name!r} = {raw} is outside [{lo}, {hi}]")
    return raw


@dataclass(frozen=True)
class SirenConfig:
    """Everything that rebuilds a SIREN.  Stored in the file's metadata."""

    in_dim: int
    """Coordinate dimensions (2 for images)."""
    out_dim: int
    """Signal channels."""
    width: int
    """Hidden features per layer."""
    hidden_layers: int = 3
    """Hidden sine layers after the first sine layer (SIREN's default network has 3)."""
    w0: float = 30.0
    """Frequency factor ω0 of the hidden layers."""
    first_w0: float = 30.0
    """Frequency factor of the first layer (audio needs ~3000)."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SirenConfig:
        return checked_config(cls, data)

    def param_count(self) -> dict[str, int]:
        return {"total": mlp_param_count(self.in_dim, self.width, self.hidden_layers, self.out_dim)}

    @property
    def partitioning(self) -> None:
        """A SIREN has no partitions."""
        return None


@dataclass(frozen=True)
class LocalGlobalConfig:
    """Everything that rebuilds a Local-Global SIREN.  Stored in the file's metadata."""

    in_dim: int
    """Coordinate dimensions (2 for images)."""
    out_dim: int
    """Signal channels."""
    partitioning: Partitioning
    """The partition grid, its sample edges and the kept block."""
    local_width: int
    """Hidden features of every local network."""
    global_width: int
    """Hidden features of the shared global network."""
    hidden_layers: int = 3
    """Hidden layers after the first layer (the published network has 3)."""
    w0: float = 30.0
    """Frequency factor ω0 of hidden and merge layers."""
    first_w0: float = 30.0
    """Frequency factor of the first local and global layers (audio needs ~3000)."""
    local_frequency: float | None = field(default=None, compare=False, metadata={"stored": False})
    """Initialisation only, not stored: the least top frequency, in radians per sample, that a
    local network's first layer starts with (None or 0: SIREN's initialisation)."""

    def to_dict(self) -> dict:
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "partitioning": self.partitioning.to_dict(),
                "local_width": self.local_width, "global_width": self.global_width,
                "hidden_layers": self.hidden_layers, "w0": self.w0, "first_w0": self.first_w0}

    @classmethod
    def from_dict(cls, data: dict) -> LocalGlobalConfig:
        config = checked_config(cls, data, partitioning=Partitioning.from_dict)
        if config.partitioning.ndim != config.in_dim:
            raise InrFileError("partition grid dimensions do not match the model's input dimensions")
        if config.partitioning.num_slots > 1 << 20:
            raise InrFileError("partition grid is implausibly large")
        return config

    def param_count(self) -> dict[str, int]:
        """Parameter counts: ``per_partition``, ``local`` (all kept), ``global``, ``merge``, ``total``."""
        w, g = self.local_width, self.global_width
        per_partition = mlp_param_count(self.in_dim, w, self.hidden_layers, self.out_dim)
        local = per_partition * self.partitioning.num_slots
        glob = mlp_param_count(self.in_dim, g, self.hidden_layers)
        merge = (w + g) * w + w
        return {"per_partition": per_partition, "local": local, "global": glob, "merge": merge,
                "total": local + glob + merge}


@dataclass(frozen=True)
class SetSirenConfig:
    """Everything that rebuilds a set network (:mod:`inrcli.models.set_siren`).  Stored in the file."""

    in_dim: int
    """Coordinate dimensions (2 for images)."""
    out_dim: int
    """Signal channels."""
    width: int
    """Hidden features per layer of the shared network."""
    members: int
    """Signals in the set: rows of the code table."""
    code_dim: int
    """Numbers per member's code."""
    conditioning: str
    """``latent`` (learned codes shifting every sine layer), ``spatial`` (learned codes laid out on
    a grid over the signal, interpolated at each coordinate, shifting every sine layer) or ``index``
    (binary digits of the member's index, fixed, as extra inputs of the first layer)."""
    hidden_layers: int = 3
    """Hidden sine layers after the first."""
    w0: float = 30.0
    """Frequency factor ω0 of the hidden layers."""
    first_w0: float = 30.0
    """Frequency factor of the first layer."""
    code_grid: tuple[int, ...] | None = None
    """``spatial`` only: cells of a member's code grid per axis (rows first); a code is
    ``code_grid + (code_channels,)`` numbers, stored flat in that order."""

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.code_grid is None:  # absent, not null: latent and index files are as before
            del data["code_grid"]
        else:
            data["code_grid"] = list(self.code_grid)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SetSirenConfig:
        config = checked_config(cls, data, conditioning=_conditioning, code_grid=_code_grid)
        if config.conditioning == "index" and config.code_dim > 62:
            raise InrFileError("an index code has at most 62 binary digits")
        spatial = config.conditioning == "spatial"
        if spatial != (config.code_grid is not None):
            raise InrFileError("a spatial set, and only a spatial set, has a code_grid")
        if spatial and (len(config.code_grid) != config.in_dim or config.code_dim % math.prod(config.code_grid)):
            raise InrFileError(f"code_grid {list(config.code_grid)} does not lay out {config.code_dim} numbers "
                               f"over {config.in_dim} axes")
        return config

    @property
    def modulated_layers(self) -> int:
        return 1 + self.hidden_layers if self.conditioning in ("latent", "spatial") else 1

    @property
    def code_channels(self) -> int:
        """Numbers the modulation reads at a coordinate: a grid cell's (spatial), else the whole code."""
        return self.code_dim // math.prod(self.code_grid) if self.code_grid is not None else self.code_dim

    def check_description(self, info: dict) -> None:
        """The signal description names every member once: ``info["members"]``, one distinct,
        non-empty name (at most 255 characters, no path separators) per code."""
        names = info.get("members")
        if not isinstance(names, list) or len(names) != self.members:
            raise InrFileError(f"a set of {self.members} members needs as many names in its signal description")
        for name in names:
            if not isinstance(name, str) or not 0 < len(name) <= 255 or "/" in name or "\\" in name:
                raise InrFileError(f"member name {str(name)[:40]!r} is not a plain name of 1-255 characters")
        if len(set(names)) != len(names):
            raise InrFileError("member names repeat")

    def param_count(self) -> dict[str, int]:
        """Parameter counts: ``shared`` network, ``modulation`` (code → shifts), ``codes``, ``per_member``, ``total``."""
        shared = mlp_param_count(self.in_dim, self.width, self.hidden_layers, self.out_dim)
        modulation = self.code_channels * self.width * self.modulated_layers
        codes = self.members * self.code_dim
        return {"shared": shared, "modulation": modulation, "codes": codes, "per_member": self.code_dim,
                "total": shared + modulation + codes}

    @property
    def partitioning(self) -> None:
        """A set network has no partitions (a crop keeps members instead)."""
        return None


CONDITIONINGS = ("latent", "spatial", "index")


def _conditioning(raw: object) -> str:
    if raw not in CONDITIONINGS:
        raise InrFileError(f"model config 'conditioning' must be one of {', '.join(CONDITIONINGS)}, got {raw!r}")
    return raw


def _code_grid(raw: object) -> tuple[int, ...] | None:
    """Cells per axis, each 1…4096 (their product is bounded by ``code_dim``'s limit, checked after)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= 3:
        raise InrFileError(f"model config 'code_grid' must be a list of 1-3 cell counts, got {str(raw)[:40]}")
    return tuple(_checked_int("code_grid", cells) for cells in raw)
