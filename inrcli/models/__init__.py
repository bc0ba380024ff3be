"""Model registry: architecture name → class.  Every class has ``Config``, ``for_budget``,
``route``, ``forward(coords (B, n, d), slots (B,) | None) -> (B, n, C)`` and ``param_count``."""

from __future__ import annotations

from inrcli.errors import InrFileError, UsageError
from inrcli.models.local_global import LocalGlobalSiren
from inrcli.models.siren import Siren

MODELS = {cls.name: cls for cls in (LocalGlobalSiren, Siren)}


def model_class(name: str, *, from_file: bool = False):
    """The class registered under ``name``."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        error = InrFileError if from_file else UsageError
        raise error(f"unknown architecture {name!r} (known: {known})") from None


def is_croppable(model) -> bool:
    return getattr(model, "partitioning", None) is not None
