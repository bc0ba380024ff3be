"""Model registry: architecture name → class.  Every class follows the protocol described in
:mod:`inrcli.models.base`; partitioned (croppable) ones also subclass ``Partitioned``.

Adding an architecture is one module plus one entry in ``MODELS``.
"""

from __future__ import annotations

from inrcli.errors import InrFileError, UsageError
from inrcli.models.base import ModelHints, Partitioned, partitioning_of
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


def is_croppable(cls) -> bool:
    """Whether models of this class (or this model) can be cropped to a block of partitions."""
    return isinstance(cls, Partitioned) or (isinstance(cls, type) and issubclass(cls, Partitioned))


__all__ = ["MODELS", "ModelHints", "Partitioned", "is_croppable", "model_class", "partitioning_of"]
