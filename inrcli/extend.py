"""Grow an encoded signal: new partitions around an lg-siren file's grid, trained alone.

The file's own local networks and its shared global and merge layers are copied bit for bit and
never trained, and the new grid keeps the old coordinate frame, so inside the old region the
extended file decodes exactly as the old one did; cropping it back to the old partitions gives the
old weights byte for byte.  Only the new partitions' samples are drawn for training.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from inrcli.errors import UsageError
from inrcli.fileformat import InrFile, SignalDescription
from inrcli.models import is_croppable
from inrcli.quantize import storable_state
from inrcli.sampling import SlotView
from inrcli.signals import signal_kind
from inrcli.signals.base import Signal, TrainingData
from inrcli.train import StepInfo, fit, psnr_from_mse


def parse_offsets(text: str, axes: int) -> tuple[int, ...]:
    """``--at 0,256`` → ``(0, 256)``: one whole number per axis of the signal."""
    try:
        offsets = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--at: expected {axes} whole number(s) separated by ',', got {text!r}") from None
    if len(offsets) != axes:
        raise UsageError(f"--at needs {axes} offset(s) for this signal, got {len(offsets)}")
    return offsets


def extend(inr: InrFile, signal: Signal, at: tuple[int, ...], options, on_step: Callable[[StepInfo], None] | None = None
           ) -> tuple[InrFile, dict]:
    """``inr`` grown to ``signal``, which holds the encoded signal at sample offset ``at``.

    ``options`` is an :class:`~inrcli.api.EncodeOptions` (steps or seconds, lr, seed, device,
    sample_fraction; the budget and architecture come from the file).  Returns the new file and a
    report: partitions added, steps, and the PSNR of the new samples (float values, network peak).
    """
    kind = _check_compatible(inr, signal)
    options.check()
    torch.manual_seed(options.seed)
    preset = kind.preset(inr.model.name)
    model, fresh, moved = inr.model.extended(at, signal.shape, preset.model.get("local_frequency"))
    if len(fresh) == 0:
        raise UsageError("the new signal is the encoded one: there is nothing to extend")
    description = inr.signal
    targets = np.subtract(signal.values, np.float32(description.offset), dtype=np.float32)
    targets /= np.float32(description.scale)  # the old networks' units, which the new ones must share
    fraction = options.sample_fraction or preset.sample_fraction
    sampler = kind.sampler(TrainingData(signal, torch.from_numpy(targets), SlotView(model.partitioning, fresh),
                                        fraction, options.seed))
    for parameter in [*model.global_layers.parameters(), *model.merge.parameters()]:
        parameter.requires_grad_(False)
    trainer = model.to(options.device).subset(fresh.to(options.device)).train()
    record = fit(trainer, sampler, options.train_config(kind, signal, preset), on_step=on_step)
    model = model.cpu().eval()
    if inr.coding is not None:  # the new partitions' sine biases into one period, as the grids expect
        model.load_state_dict({name: torch.from_numpy(values) for name, values in storable_state(model).items()})
    model.adopt(inr.model, moved)  # untouched by training already (no gradient reaches them); now provably
    if inr.coding is not None:  # the old grids: old partitions keep their integers, new ones are rounded to them
        inr.coding.round_model(model)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    grown = SignalDescription(signal.shape, tuple((0, n) for n in signal.shape), description.channels,
                              description.offset, description.scale, dict(description.info))
    report = {"added_partitions": len(fresh), "partitions": list(model.partitioning.grid),
              "at": list(at), "steps": record.steps, "seconds": record.seconds,
              "new_region_psnr": round(_new_region_psnr(model, fresh, targets, kind.network_peak), 4)}
    training = {key: value for key, value in record.to_dict().items() if key != "seconds"}
    training |= {"extended": {"at": list(at), "from_shape": list(description.full_shape),
                              "added_partitions": len(fresh)}}
    return InrFile(model, inr.modality, grown, training, inr.dtype, extras=dict(inr.extras), coding=inr.coding), report


def _check_compatible(inr: InrFile, signal: Signal):
    """The kind, channels and rate of ``signal`` must be those of the file; the file croppable."""
    kind = signal_kind(inr.modality)
    if not is_croppable(inr.model):
        raise UsageError(f"a {inr.arch} file has no partitions to extend; encode with --arch lg-siren")
    if signal.modality != inr.modality or not kind.extendable:
        raise UsageError(f"cannot extend {kind.article} {inr.modality} file with {signal.modality} data"
                         if signal.modality != inr.modality else f"{inr.modality} files cannot be extended")
    if signal.channels != inr.signal.channels:
        raise UsageError(f"the new signal has {signal.channels} channels; the file has {inr.signal.channels}")
    for key, value in kind.rate_fields(inr.signal.info).items():
        if signal.info.get(key) != value:
            raise UsageError(f"the new signal's {key} is {signal.info.get(key)}; the file's is {value}")
    return kind


def _new_region_psnr(model, fresh: torch.Tensor, targets: np.ndarray, peak: float) -> float:
    """PSNR of the new partitions' samples in network units (peak ``peak``), from one full decode."""
    from inrcli.inference import decode_grid

    shape = targets.shape[:-1]
    decoded = decode_grid(model, shape, tuple((0, n) for n in shape), shape)
    lows, highs = model.partitioning.slot_bounds()
    squared, count = 0.0, 0
    for low, high in zip(lows[fresh].tolist(), highs[fresh].tolist()):
        block = tuple(slice(lo, hi) for lo, hi in zip(low, high))
        squared += float(np.sum((decoded[block].astype(np.float64) - targets[block]) ** 2))
        count += targets[block].size
    return psnr_from_mse(squared / count, peak)
