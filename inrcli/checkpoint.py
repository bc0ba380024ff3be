"""Resumable encodes: the whole training state in one safetensors file.

A checkpoint holds the model's weights, Adam's moments, the sampling generator's state and
the loop's progress (step, planned steps, training seconds so far), so that a resumed run
continues exactly where the saved one stood: with ``--steps`` the final file is the same,
byte for byte, as that of an uninterrupted run.  It also holds a fingerprint of the input
signal and the flags; a checkpoint is only ever resumed by the encode that made it.

Like INR files, checkpoints are read with safetensors (never unpickled) and validated: every
tensor must have exactly the name, shape and dtype the freshly built model and optimizer
expect, and hold finite values.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from inrcli.errors import InrFileError, UsageError
from inrcli.fileformat import MAX_WEIGHT, read_header
from inrcli.optim import Adam

FORMAT = "inr-checkpoint"
VERSION = 1


@dataclass
class Progress:
    """Where the training loop stood when the checkpoint was written."""

    step: int
    planned: int
    elapsed: float
    """Training seconds spent so far (across all resumed runs)."""
    ema_mse: float | None
    last_check: int


def fingerprint(values: np.ndarray, info: dict, settings: dict) -> str:
    """SHA-256 of the signal's samples, its description and every setting that shapes training."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(values).view(np.uint8).reshape(-1).data)
    digest.update(json.dumps([list(values.shape), str(values.dtype), info, settings], sort_keys=True,
                             default=str).encode())
    return digest.hexdigest()


class Checkpoint:
    """Saves and restores training state at ``path`` for the encode identified by ``key``.

    Args:
        path: the checkpoint file.
        key: the encode's fingerprint (see :func:`fingerprint`).
        every: least training seconds between two saves.
    """

    def __init__(self, path: str | Path, key: str, every: float = 30.0):
        self.path = Path(path)
        self.key = key
        self.every = every
        self.saved_at: float | None = None

    def due(self, elapsed: float) -> bool:
        return self.saved_at is None or elapsed - self.saved_at >= self.every

    def save(self, model: torch.nn.Module, optimizer: Adam, generator: torch.Generator,
             progress: Progress) -> None:
        """Write the state atomically: a temporary file in the same folder, renamed into place."""
        tensors = {f"model.{name}": t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
        for index, state in optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"adam.{index}.{key}"] = torch.as_tensor(value).detach().cpu().float().contiguous()
        tensors["rng"] = generator.get_state().clone()
        meta = {"format": FORMAT, "version": str(VERSION), "fingerprint": self.key,
                "progress": json.dumps(asdict(progress))}
        data = save_tensors(tensors, metadata=meta)
        name = self._partial_name(os.getpid())
        handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # a checkpoint must survive the crash it is for
            os.replace(name, self.path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
        self.saved_at = progress.elapsed

    def _partial_name(self, pid: int | str) -> Path:
        """The temporary file a save by process ``pid`` writes before renaming it into place."""
        return self.path.resolve().parent / f".{self.path.name}.{pid}.partial"

    def remove_stale_partials(self) -> None:
        """Delete temporary files left by saves of this checkpoint whose process was killed mid-write.

        A SIGKILL between writing and renaming leaves the temporary file behind; its name
        carries the writer's pid, so only files of processes that no longer run are removed.
        """
        for partial in self.path.resolve().parent.glob(f".{glob.escape(self.path.name)}.*.partial"):
            pid = partial.name[len(self.path.name) + 2:-len(".partial")]
            if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
                with contextlib.suppress(OSError):
                    partial.unlink()

    def load(self, model: torch.nn.Module, optimizer: Adam,
             generator: torch.Generator) -> Progress | None:
        """Restore the state into ``model``, ``optimizer`` and ``generator``; None if there is no file.

        Raises ``InrFileError`` for a damaged checkpoint or one made by another encode.
        """
        self.remove_stale_partials()
        if not self.path.exists():
            return None
        tensors, meta = self._read(model, optimizer)
        progress = _progress(meta.get("progress"))
        model.load_state_dict({name[len("model."):]: t for name, t in tensors.items() if name.startswith("model.")})
        state = {}
        for index, param in enumerate(p for group in optimizer.param_groups for p in group["params"]):
            if f"adam.{index}.step" in tensors:
                state[index] = {"step": tensors[f"adam.{index}.step"].reshape(()),
                                "exp_avg": tensors[f"adam.{index}.exp_avg"].to(param.device),
                                "exp_avg_sq": tensors[f"adam.{index}.exp_avg_sq"].to(param.device)}
        optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})
        try:
            generator.set_state(tensors["rng"])
        except (RuntimeError, ValueError):
            raise InrFileError(f"{self.path}: the random generator state is damaged") from None
        self.saved_at = progress.elapsed
        return progress

    def _read(self, model: torch.nn.Module, optimizer: Adam) -> tuple[dict, dict]:
        """The checkpoint's tensors and metadata, checked against what ``model`` expects."""
        expected = {f"model.{name}": (tuple(t.shape), t.dtype) for name, t in model.state_dict().items()}
        params = [p for group in optimizer.param_groups for p in group["params"]]
        limit = sum(math.prod(shape) * 4 for shape, _ in expected.values()) * 3 + (1 << 24)
        size = self.path.stat().st_size
        if size > limit:
            raise InrFileError(f"{self.path}: {size:,} bytes is too large for a checkpoint of this model")
        data = self.path.read_bytes()
        try:
            _, meta = read_header(data)  # the INR files' own checks: length, JSON, string metadata
            tensors = load_tensors(data)
        except (InrFileError, SafetensorError) as exc:
            raise InrFileError(f"{self.path}: not a readable checkpoint ({str(exc).splitlines()[0]})") from None
        if meta.get("format") != FORMAT:
            raise InrFileError(f"{self.path}: not an inr checkpoint")
        if meta.get("version") != str(VERSION):
            raise InrFileError(f"{self.path}: checkpoint version {meta.get('version')!r} is not supported")
        if meta.get("fingerprint") != self.key:
            raise InrFileError(f"{self.path} belongs to another encode (different input or flags); "
                               f"remove it or name another --checkpoint")
        adam_steps = [i for i in range(len(params)) if f"adam.{i}.step" in tensors]
        for index in adam_steps:
            shape = tuple(params[index].shape)
            expected |= {f"adam.{index}.step": ((), torch.float32), f"adam.{index}.exp_avg": (shape, torch.float32),
                         f"adam.{index}.exp_avg_sq": (shape, torch.float32)}
        expected["rng"] = (tuple(torch.Generator().get_state().shape), torch.uint8)
        if set(tensors) != set(expected):
            raise InrFileError(f"{self.path}: checkpoint tensors do not match this model")
        for name, tensor in tensors.items():
            if (tuple(tensor.shape), tensor.dtype) != expected[name]:
                raise InrFileError(f"{self.path}: checkpoint tensor {name} has the wrong shape or dtype")
            if tensor.is_floating_point() and not _plausible(name, tensor):
                raise InrFileError(f"{self.path}: checkpoint tensor {name} holds impossible values")
        return tensors, meta


def _plausible(name: str, tensor: torch.Tensor) -> bool:
    """Finite, weights within the bound INR files obey, Adam's squares and step counts not negative."""
    if not torch.isfinite(tensor).all():
        return False
    if name.startswith("model."):
        return bool(tensor.abs().max() <= MAX_WEIGHT) if tensor.numel() else True
    if name.endswith((".exp_avg_sq", ".step")):
        return bool((tensor >= 0).all())
    return True


def _progress(text: object) -> Progress:
    """Parse and check the stored progress record."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
        progress = Progress(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        progress = None
    if progress is None:
        raise InrFileError("checkpoint progress record is missing or malformed")
    ints = (progress.step, progress.planned, progress.last_check)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in ints):
        raise InrFileError("checkpoint progress record is malformed")
    if not (0 <= progress.last_check <= progress.step <= progress.planned <= 1_000_000_000):
        raise InrFileError("checkpoint progress record is inconsistent")
    if not isinstance(progress.elapsed, (int, float)) or not 0 <= progress.elapsed < 1e9:
        raise InrFileError("checkpoint progress record is malformed")
    if progress.ema_mse is not None and (not isinstance(progress.ema_mse, (int, float))
                                         or not 0 <= progress.ema_mse < 1e30):
        raise InrFileError("checkpoint progress record is malformed")
    return progress


def check_checkpoint_path(checkpoint: str, others: tuple[str, ...]) -> None:
    """Refuse a checkpoint path that is stdin/stdout, a directory, nowhere, or one of ``others``."""
    path = Path(checkpoint)
    if checkpoint == "-" or path.is_dir() or not path.resolve().parent.is_dir():
        raise UsageError(f"--checkpoint {checkpoint}: name a file in an existing directory")
    for other in others:
        if other != "-" and path.resolve() == Path(other).resolve():
            raise UsageError(f"--checkpoint {checkpoint}: must differ from the input and the output")


def _running(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists but belongs to someone else, or the platform cannot say: keep its file
    return True
