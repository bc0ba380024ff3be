"""Model registry: architecture name → its network class (imported on first use) and its config.

Every class follows the protocol described in :mod:`inrcli.models.base`; partitioned (croppable)
ones also subclass ``Partitioned``.  Configs (:mod:`inrcli.models.config`) are plain data and need
no torch, so a file's header can be read without it.  Adding an architecture is one module, its
config, and one entry in each table.
"""

from __future__ import annotations

import importlib

from inrcli.errors import InrFileError, UsageError
from inrcli.models.base import (Membered, ModelHints, Partitioned, is_membered, local_tensor_test, lr_scales,
                                partitioning_of, tensor_roles)
from inrcli.models.config import LocalGlobalConfig, SetSirenConfig, SirenConfig

MODELS = {"lg-siren": "inrcli.models.local_global:LocalGlobalSiren", "siren": "inrcli.models.siren:Siren",
          "set-siren": "inrcli.models.set_siren:SetSiren"}
CONFIGS = {"lg-siren": LocalGlobalConfig, "siren": SirenConfig, "set-siren": SetSirenConfig}
SET_ARCH = "set-siren"  # the architecture of ``inr encode A B … -o set.safetensors``


def _known(name: str, from_file: bool) -> None:
    if name not in MODELS:
        error = InrFileError if from_file else UsageError
        raise error(f"unknown architecture {name!r} (known: {', '.join(MODELS)})")


def model_class(name: str, *, from_file: bool = False):
    """The network class registered under ``name`` (imports torch)."""
    _known(name, from_file)
    module, attribute = MODELS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def config_class(name: str, *, from_file: bool = False):
    """The config dataclass of architecture ``name`` (no torch needed)."""
    _known(name, from_file)
    return CONFIGS[name]


def is_croppable(cls) -> bool:
    """Whether models of this class (or this model) can be cropped to a block of partitions."""
    return isinstance(cls, Partitioned) or (isinstance(cls, type) and issubclass(cls, Partitioned))


__all__ = ["CONFIGS", "MODELS", "SET_ARCH", "Membered", "ModelHints", "Partitioned", "config_class",
           "is_croppable", "is_membered", "local_tensor_test", "lr_scales", "model_class", "partitioning_of", "tensor_roles"]
