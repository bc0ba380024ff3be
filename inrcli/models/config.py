"""Rebuilding model configs from untrusted file metadata."""

from __future__ import annotations

import dataclasses

from inrcli.errors import InrFileError

# Bounds that keep a hostile file from asking for an absurd allocation.
LIMITS = {"in_dim": (1, 1024), "out_dim": (1, 64), "width": (1, 4096), "local_width": (1, 4096),
          "global_width": (1, 4096), "hidden_layers": (0, 32)}


def checked_config(cls, data: object, **converters):
    """Build the config dataclass ``cls`` from a metadata dict, checking every field.

    ``converters`` maps a field name to a function that turns its raw value into the field's
    value (raising ``InrFileError``); other fields must be int or float as annotated.
    """
    if not isinstance(data, dict):
        raise InrFileError("model config is not an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise InrFileError(f"model config has unknown field(s): {', '.join(sorted(unknown))}")
    values = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING:
                raise InrFileError(f"model config lacks {name!r}")
            continue
        raw = data[name]
        if name in converters:
            values[name] = converters[name](raw)
        elif field.type == "int":
            values[name] = _checked_int(name, raw)
        elif field.type == "float":
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
