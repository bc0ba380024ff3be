"""Sets: many signals of one kind and size in one network, a code per member.

A set file is an ordinary INR file of its members' kind (images, say) whose model has the
:class:`~inrcli.models.Membered` capability (the set architecture, ``models.SET_ARCH``); its
signal description names the members (``info["members"]``, in code order).  Everything per
member — decoding, scoring, interpolating between two codes — goes through a *view*: an
:class:`InrFile` whose model shares the set's network and holds the one code wanted, so the
kind's own decode and metrics apply as they are.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inrcli import api
from inrcli.errors import SignalReadError, UsageError
from inrcli.fileformat import InrFile, SignalDescription
from inrcli.grid import axis_frames, sample_centres
from inrcli.models import SET_ARCH, ModelHints, is_membered, lr_scales, model_class
from inrcli.quantize import FLOAT_BITS
from inrcli.sampling import MIN_BATCH, Sampler
from inrcli.signals import READERS, Signal, format_of, read_signal, signal_kind
from inrcli.train import StepInfo, fit


# Codes are N(0, 1)-sized, so fitting one alone takes steps far larger than a network's 1e-3:
# 8 held-back crops added to a 64-crop set, mean PSNR after 20 / 60 steps: lr 1e-3 11.9 / 12.1 dB,
# 1e-2 12.9 / 14.9, 5e-2 16.3 / 17.5, 0.2 17.1 / 18.0.  The same crops added to a spatial set in
# 4 s: a constant 0.1 34.6 dB (0.05: 31.8, 0.2: 33.9); decaying from 0.1 32.9, from 0.4 34.0.
ADD_LR = 0.1

# Sets are stored as float16 unless --dtype says otherwise: on a 64-crop spatial set (90 s) the
# mean PSNR moved from 37.032 to 37.029 dB, and the file halves.
SET_DTYPE = "float16"


def is_set(inr: InrFile) -> bool:
    return is_membered(inr.model)


def member_names(inr: InrFile) -> list[str]:
    return list(inr.signal.info["members"])


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files named, or found (sorted) in named folders; a folder's files that no reader takes are skipped."""
    paths = []
    for source in inputs:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and format_of(p.name) in READERS)
            if not found:
                raise UsageError(f"{source}: no signal files in this folder")
            paths += found
        else:
            paths.append(path)
    return paths


def read_members(inputs: list[str], size: tuple[int, ...] | None = None) -> tuple[list[str], list[Signal]]:
    """Names (file stems) and signals of a set: one kind on a grid (images, audio clips); with
    ``size`` (samples per axis) every picture is resized to it, else all must share one shape."""
    paths = expand_inputs(inputs)
    names = [path.stem for path in paths]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"members need distinct names; {', '.join(repeated[:3])} repeat")
    members = [read_signal(str(path)) for path in paths]
    kind = signal_kind(members[0].modality)
    for path, member in zip(paths, members):
        if member.modality != kind.name or not kind.partitionable:
            raise SignalReadError(f"{path}: a set holds signals of one kind on a grid, like {paths[0].name}; "
                                  f"this is {member.modality}")
    if size is not None:
        members = [resized(member, size) for member in members]
    for path, member in zip(paths, members):
        if member.values.shape != members[0].values.shape:
            raise SignalReadError(f"{path}: {_shape_text(member)} differs from {paths[0].name}'s "
                                  f"{_shape_text(members[0])}; give --size to resize all")
    return names, members


def _shape_text(signal: Signal) -> str:
    return f"{signal_kind(signal.modality).size_text(signal.shape)} × {signal.channels} channels"


def resized(signal: Signal, size: tuple[int, ...]) -> Signal:
    """A picture resampled to ``size`` (rows, columns) with antialiased bicubic filtering."""
    if signal.shape == tuple(size):
        return signal
    if len(size) != 2 or len(signal.shape) != 2:
        raise UsageError("--size resizes pictures (WxH)")
    values = torch.from_numpy(np.ascontiguousarray(signal.values)).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(values, size=tuple(size), mode="bicubic", antialias=True,
                                          align_corners=False)
    return Signal(signal.modality, out[0].permute(1, 2, 0).clamp(0, 1).numpy().copy(), dict(signal.info),
                  {"resized_from": list(signal.shape)})


class MemberSampler(Sampler):
    """Batches of a set: row ``m`` holds samples of member ``m`` (the set network's code ``m``).

    Each step draws, for every member, ``fraction`` of its pixels at random positions (at least
    ``MIN_BATCH`` over all members); with ``fraction >= 1`` every pixel, in order.

    Args:
        values: ``(M, *shape, C)`` targets in network units.
    """

    def __init__(self, values: torch.Tensor, fraction: float):
        members, *shape, channels = values.shape
        self.shape = tuple(shape)
        self.strides = [math.prod(shape[a + 1:]) for a in range(len(shape))]
        self.targets = values.reshape(members, -1, channels)
        self.axes = [torch.from_numpy(sample_centres((0, n), n, n, *frame)).float()
                     for n, frame in zip(shape, axis_frames(None, tuple(shape)))]
        pixels = self.targets.shape[1]
        wanted = max(fraction * pixels, MIN_BATCH / members)
        self.per_member = pixels if fraction >= 1 else max(1, min(pixels, math.ceil(wanted)))

    @property
    def batch_points(self) -> int:
        return self.per_member * self.targets.shape[0]

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        members, pixels, _ = self.targets.shape
        if self.per_member == pixels:
            flat = torch.arange(pixels).expand(members, pixels)
        else:
            flat = torch.randint(pixels, (members, self.per_member), generator=generator)
        coords = torch.stack([axis[(flat // stride) % n] for axis, stride, n in zip(self.axes, self.strides, self.shape)],
                             dim=-1)
        return coords, torch.gather(self.targets, 1, flat[..., None].expand(-1, -1, self.targets.shape[2]))


@dataclasses.dataclass
class SetOptions:
    """How a set is conditioned; the rest is :class:`api.EncodeOptions`."""

    code_dim: int | None = None
    """Numbers per member's code (``spatial``: per cell of its grid); None for the conditioning's default."""
    conditioning: str = "spatial"
    dtype: str | None = None
    """Storage precision of the set's floats, over ``EncodeOptions.dtype``; None for :data:`SET_DTYPE`."""


def encode_set(names: list[str], images: list[Signal], options: api.EncodeOptions, set_options: SetOptions,
               on_step: Callable[[StepInfo], None] | None = None) -> InrFile:
    """Fit one set network to ``images`` (signals of one kind and shape); ``--params`` is the set's
    total (default: the sum of the members' own default budgets).  Sets are stored as floats."""
    _check_float_storage(options)  # first: the clearer message for --bits on a set
    options = dataclasses.replace(options, dtype=set_options.dtype or SET_DTYPE)
    options.check()
    kind = signal_kind(images[0].modality)
    together = _together(images)
    torch.manual_seed(options.seed)
    preset = kind.preset(SET_ARCH)
    budget = options.params or kind.default_budget(images[0]) * len(images)
    options_of_set = {"members": len(images), "code_dim": set_options.code_dim, "conditioning": set_options.conditioning}
    if set_options.conditioning == "spatial":
        options_of_set["code_grid"] = model_class(SET_ARCH).default_code_grid(images[0].shape)
    hints = ModelHints(first_w0=round(kind.first_frequency(together, preset), 3), w0=preset.w0, options=options_of_set)
    model = model_class(SET_ARCH).for_budget(kind.coordinate_dims(together.info), together.channels, budget, hints)
    offset, scale = kind.normalization(together)
    info = {**images[0].info, "members": list(names)}
    shape = images[0].shape
    description = SignalDescription(shape, tuple((0, n) for n in shape), together.channels, offset, scale, info)
    inr = InrFile(model.to(options.device), kind.name, description, {}, options.dtype)
    record = _fit_codes(inr, images, options, on_step)
    inr.model = model.cpu().eval()
    api.store_precision(inr, FLOAT_BITS, options.dtype)  # scores are those of the weights the file holds
    inr.elapsed = record.seconds
    inr.training = {k: v for k, v in record.to_dict().items() if k != "seconds"} | _scores_record(inr, images)
    resized = {name: image.attachments["resized_from"] for name, image in zip(names, images)
               if "resized_from" in image.attachments}
    if resized:  # --size: the file says which members were resampled, and from what
        inr.training["resized"] = {"to": list(shape), "from": resized}
    return inr


def _check_float_storage(options: api.EncodeOptions) -> None:
    """Sets keep float weights: a crop of members re-selects code rows, which a coded file's
    per-tensor grids would have to be rebuilt for (not done yet)."""
    if options.bits not in (None, 32) or options.sized:
        raise UsageError("sets are stored as float weights: --bits, --bpp and --max-bytes apply to single files")


def _together(members: list[Signal]) -> Signal:
    """All members as one signal along the first axis: what a kind's normalization and first
    frequency are chosen from, so that every member shares them."""
    return Signal(members[0].modality, np.concatenate([m.values for m in members]), dict(members[0].info))


def _fit_codes(inr: InrFile, members: list[Signal], options: api.EncodeOptions,
               on_step: Callable[[StepInfo], None] | None):
    """Train ``inr.model`` (whatever of it requires gradients) on ``members``, row ``m`` on member ``m``."""
    kind = signal_kind(inr.modality)
    preset = kind.preset(SET_ARCH)
    offset, scale = inr.signal.offset, inr.signal.scale
    values = torch.from_numpy((np.stack([m.values for m in members]) - offset) / scale).float()
    sampler = MemberSampler(values, options.sample_fraction or preset.sample_fraction)
    config = options.train_config(kind, members[0], preset)
    inr.model.train()
    return fit(inr.model, sampler, config, on_step=on_step)


def headline_scores(inr: InrFile, members: list[Signal]) -> list[float]:
    """The kind's headline score (PSNR for pictures) of each member: ``inr``'s member ``m`` against ``members[m]``."""
    headline = signal_kind(inr.modality).headline
    return [float(api.score(member, view(inr, index))[headline]) for index, member in enumerate(members)]


def _scores_record(inr: InrFile, members: list[Signal]) -> dict:
    """Mean and worst member score of a fresh fit, for the training record."""
    scores = headline_scores(inr, members)
    headline = signal_kind(inr.modality).headline
    return {headline: round(float(np.mean(scores)), 4), f"worst_{headline}": round(float(np.min(scores)), 4)}


def member_index(inr: InrFile, member: str) -> int:
    """The code row of ``member``: its name, or its index (0-based) when no member has that name."""
    names = member_names(inr)
    if member in names:
        return names.index(member)
    if member.lstrip("-").isdigit() and -len(names) <= int(member) < len(names):
        return int(member) % len(names)
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    raise UsageError(f"no member {member!r} in this set of {len(names)} ({shown}); give a name or an index")


def view(inr: InrFile, index: int) -> InrFile:
    """The set's member ``index`` as a file of one image."""
    return with_codes(inr, inr.model.codes[index:index + 1], [member_names(inr)[index]])


def between(inr: InrFile, a: int, b: int, at: float) -> InrFile:
    """The image at ``at`` (0 = member ``a``, 1 = member ``b``) along the line between their codes."""
    codes = inr.model.codes
    code = torch.lerp(codes[a:a + 1], codes[b:b + 1], float(at))
    names = member_names(inr)
    return with_codes(inr, code, [f"{names[a]}~{names[b]}@{at:g}"])


def with_codes(inr: InrFile, codes: torch.Tensor, names: list[str]) -> InrFile:
    """A file sharing ``inr``'s network with ``codes (M, code_dim)`` named ``names``."""
    description = dataclasses.replace(inr.signal, info={**inr.signal.info, "members": names})
    return dataclasses.replace(inr, model=inr.model.with_codes(codes), signal=description, size_bytes=0)


def keep_members(inr: InrFile, members: list[str]) -> InrFile:
    """A smaller set holding only ``members`` (names or indices), in the order given."""
    indices = [member_index(inr, member) for member in members]
    if len(set(indices)) != len(indices):
        raise UsageError("--members names a member twice")
    names = member_names(inr)
    return with_codes(inr, inr.model.codes[indices], [names[i] for i in indices])


def add_members(inr: InrFile, names: list[str], images: list[Signal], options: api.EncodeOptions,
                on_step: Callable[[StepInfo], None] | None = None) -> tuple[InrFile, dict]:
    """Fit codes for ``images`` against the frozen network and append them to the set.

    New codes start at the mean of the set's codes (the centre of what the network knows);
    ``options.lr`` is the codes' own rate (default ``ADD_LR``).  Returns the grown set and a
    report: the new members' PSNR and training seconds."""
    if inr.model.config.conditioning == "index":
        raise UsageError("members can only be added to a set with learned codes (--conditioning latent or spatial)")
    clash = sorted(set(names) & set(member_names(inr)))
    if clash:
        raise UsageError(f"the set already has members named {', '.join(clash[:3])}")
    _check_like(inr, images)
    # training multiplies the rate by the codes' own factor (spatial codes: 100), so divide it out
    # here; a constant rate, as a short fit of codes alone gains nothing from the decay
    options = dataclasses.replace(options, lr=(options.lr or ADD_LR) / lr_scales(inr.model).get("codes", 1.0),
                                  constant_lr=True)
    options.check()
    torch.manual_seed(options.seed)
    start = inr.model.codes.detach().mean(0, keepdim=True).expand(len(images), -1)
    added = with_codes(inr, start, names)
    shared = [p for name, p in added.model.named_parameters() if name != "codes"]
    for parameter in shared:
        parameter.requires_grad_(False)
    try:
        added.model.to(options.device)
        record = _fit_codes(added, images, options, on_step)
    finally:
        for parameter in shared:
            parameter.requires_grad_(True)
        added.model.cpu().eval()
    new_codes = added.model.codes.detach().to(getattr(torch, inr.dtype)).float()  # as the file will hold them
    added = with_codes(added, new_codes, names)
    grown = with_codes(inr, torch.cat([inr.model.codes.detach(), new_codes]), member_names(inr) + names)
    grown.training = dict(inr.training)
    scores = headline_scores(added, images)
    return grown, {"added": len(images), "steps": record.steps, "seconds": round(record.seconds, 3),
                   "scores": scores, "mean_score": float(np.mean(scores)), "score_name": signal_kind(inr.modality).headline}


def _check_like(inr: InrFile, images: list[Signal]) -> None:
    """New members, and references to score members against, must be of the set's kind, size and channels."""
    shape = (*inr.signal.full_shape, inr.signal.channels)
    for image in images:
        if image.modality != inr.modality or image.values.shape != shape:
            raise SignalReadError(f"a given signal is {_shape_text(image)}; this set's are "
                                  f"{signal_kind(inr.modality).size_text(inr.signal.full_shape)} × "
                                  f"{inr.signal.channels} channels (give --size to resize)")


def evaluate_set(inr: InrFile, names: list[str], images: list[Signal]) -> dict:
    """Scores of each reference image against the member of the same name: per member, mean, worst."""
    known = member_names(inr)
    missing = [name for name in names if name not in known]
    if missing:
        raise UsageError(f"the set has no member named {', '.join(missing[:3])}")
    _check_like(inr, images)
    kind = signal_kind(inr.modality)
    per_member = {}
    for name, image in zip(names, images):
        scores = api.evaluate(image, view(inr, known.index(name)))
        per_member[name] = {metric: scores.get(metric) for metric in kind.metric_specs}
    means = {}
    for metric in kind.metric_specs:  # a score a member lacks (SSIM of a picture under 7×7) is left out
        values = [s[metric] for s in per_member.values() if isinstance(s[metric], (int, float))]
        means[f"mean_{metric}"] = float(np.mean(values)) if values else None
    worst = min(per_member, key=lambda name: per_member[name][kind.headline])
    return {"members": per_member, "count": len(per_member), **means,
            f"worst_{kind.headline}": per_member[worst][kind.headline], "worst_member": worst}
