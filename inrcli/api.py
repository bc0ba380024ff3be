"""The library behind the CLI: encode, decode, crop, evaluate and describe.  No typer, no printing.

Nothing here knows a kind of signal or an architecture by name: kinds (``inrcli.signals``) and
models (``inrcli.models``) are reached through their registries and protocols.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from inrcli import DEFAULT_STEPS, __version__
from inrcli.checkpoint import Checkpoint, fingerprint
from inrcli.coded import Coding
from inrcli.errors import InrError, InrFileError, SignalReadError, UsageError
from inrcli import fileformat
from inrcli.files import STDIO, input_path
from inrcli.fileformat import STORAGE_DTYPES, InrFile, SignalDescription
from inrcli.grid import parse_ranges
from inrcli.quantize import FLOAT_BITS, MIN_BITS, check_bits, storable_state
from inrcli import sizing
from inrcli.models import MODELS, ModelHints, is_croppable, model_class, partitioning_of, tensor_roles
from inrcli.signals import INR_EXTENSIONS, DecodePlan, Signal, resolve_format, signal_kind
from inrcli.signals.base import SignalKind, TrainingData
from inrcli.train import StepInfo, TrainConfig, TrainRecord, fit

STARVED_SHARE = 0.1  # a --seconds run with fewer steps than this share of DEFAULT_STEPS is warned about
SIZED_BITS = 8
"""Storage when --bits is not given but a size is (--bpp, --max-bytes), for a kind stored as floats by default."""


@dataclass
class EncodeOptions:
    """Everything ``inr encode`` can be told.  None means the default of the signal's kind."""

    arch: str | None = None
    """Architecture; None for the kind's default."""
    params: int | None = None
    """Parameter budget; None for the kind's default (it grows with the signal)."""
    steps: int | None = None
    seconds: float | None = None
    target_psnr: float | None = None
    lr: float | None = None
    """Peak learning rate; None for the kind's preset."""
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    """Storage precision of float weights in the file (``bits`` 32)."""
    bits: int | None = None
    """Quantised, entropy-coded weights of this many bits (2–16), or 32 for floats (``dtype``);
    None for the default (:meth:`storage_bits`)."""
    bpp: float | None = None
    """Size target in bits per sample (pixel, audio sample, video voxel, …): sets ``params``."""
    max_bytes: int | None = None
    """Size target in bytes: sets ``params``."""
    sample_fraction: float | None = None
    """Share of the samples drawn per step; None for the kind's preset."""
    constant_lr: bool = False
    """Keep the learning rate constant instead of the cosine decay (published baselines)."""
    checkpoint: str | None = None
    """Resumable training: the state is saved to (and resumed from) this file."""
    checkpoint_every: float = 30.0
    """Least training seconds between two checkpoint saves."""
    model_options: dict = field(default_factory=dict)
    """Architecture options over the kind's preset, e.g. ``{"partitions": (16, 16), "global_width": 16}``."""
    kind_options: dict = field(default_factory=dict)
    """Options of the signal's kind, e.g. ``{"field": "sdf"}`` for a shape, ``{"k": 50}`` for a graph."""

    def check(self) -> None:
        """Refuse values that make no sense, before any work (the CLI and library callers alike)."""
        for name in ("steps", "seconds", "params"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UsageError(f"--{name} must be positive")
        if self.lr is not None and not 0 < self.lr < 1:
            raise UsageError("--lr must be in (0, 1)")
        if self.sample_fraction is not None and not 0 < self.sample_fraction <= 1:
            raise UsageError("--sample-fraction must be in (0, 1]")
        if not self.checkpoint_every >= 0:
            raise UsageError("--checkpoint-every must be zero or more seconds")
        if self.dtype not in STORAGE_DTYPES:
            raise UsageError(f"--dtype must be one of {', '.join(STORAGE_DTYPES)}, got {self.dtype!r}")
        try:
            check_bits(self.bits if self.bits is not None else FLOAT_BITS)
        except ValueError as exc:
            raise UsageError(f"--{exc}") from None
        if self.bits not in (None, FLOAT_BITS) and self.dtype != "float32":
            raise UsageError(f"--dtype {self.dtype} is float storage; --bits {self.bits} stores integers")
        if self.params is not None and self.sized:
            raise UsageError("--params and a size target (--bpp, --max-bytes) both set the parameter count")
        weight_bytes = (self.params or 0) * (2 if self.dtype == "float16" else 4)
        if weight_bytes > fileformat.MAX_FILE_BYTES:  # refused before a model of that size is built
            raise UsageError(f"--params {self.params:,} make a {weight_bytes / 2**30:.1f} GiB file; inr files hold "
                             f"at most {fileformat.MAX_FILE_BYTES / 2**30:.0f} GiB")
        if self.arch is not None:
            model_class(self.arch)

    @property
    def sized(self) -> bool:
        """Whether a file size is asked for (``--bpp`` or ``--max-bytes``)."""
        return self.bpp is not None or self.max_bytes is not None

    def storage_bits(self, kind: SignalKind) -> int:
        """Bits per stored weight: ``bits``; else floats for a float ``dtype`` other than float32;
        else the kind's default, coded (:data:`SIZED_BITS`) under a size target."""
        if self.bits is not None:
            return self.bits
        if self.dtype != "float32":
            return FLOAT_BITS
        return SIZED_BITS if self.sized and kind.default_bits == FLOAT_BITS else kind.default_bits

    def planned_steps(self) -> int | None:
        """The step budget: ``--steps``, none under ``--seconds`` alone, else ``DEFAULT_STEPS``."""
        return self.steps if self.steps or self.seconds else DEFAULT_STEPS

    def train_config(self, kind: SignalKind, signal: Signal, preset) -> TrainConfig:
        """The training loop's settings: these options over the kind's preset."""
        bits = self.storage_bits(kind)
        return TrainConfig(steps=self.planned_steps(),
                           seconds=self.seconds, target_psnr=self.target_psnr, lr=self.lr or preset.lr,
                           seed=self.seed, device=self.device, psnr_peak=kind.network_peak,
                           loss=kind.loss(signal), min_lr_ratio=1.0 if self.constant_lr else 0.01,
                           bits=None if bits == FLOAT_BITS else bits)

    def fingerprint_settings(self) -> dict:
        """The settings that shape training (not where or how often it is checkpointed)."""
        settings = dataclasses.asdict(self)
        for name in ("checkpoint", "checkpoint_every"):
            settings.pop(name)
        return settings | {"software": __version__}


def _given(options: dict) -> dict:
    """Options actually set: a None value means "not given"."""
    return {name: value for name, value in options.items() if value is not None}


def kind_of(inr_or_signal: InrFile | Signal | str) -> SignalKind:
    """The signal kind of a file, a signal or a kind name."""
    name = inr_or_signal if isinstance(inr_or_signal, str) else inr_or_signal.modality
    return signal_kind(name)


def load(source: str) -> InrFile:
    """Read an INR file (or ``-``) and validate it; errors name the file."""
    return fileformat.load_source(source)


def is_inr_file(source: str) -> bool:
    """Whether ``source`` names an INR file (by its ending or, failing that, its bytes)."""
    if source == STDIO:
        return False
    with input_path(source) as path:
        return resolve_format(path, source, None) in INR_EXTENSIONS


def build_model(signal: Signal, options: EncodeOptions) -> torch.nn.Module:
    """A freshly initialised model for ``signal`` within the parameter budget."""
    kind = kind_of(signal)
    arch = options.arch or kind.default_arch
    preset = kind.preset(arch)
    user = _given(options.model_options)
    hints = ModelHints(first_w0=round(kind.first_frequency(signal, preset), 3), w0=preset.w0,
                       grid_shape=signal.shape if kind.partitionable else None,
                       options={**preset.model, **user}, user_options=frozenset(user))
    budget = options.params or kind.default_budget(signal)
    return model_class(arch).for_budget(kind.coordinate_dims(signal.info), signal.channels, budget, hints)


@dataclass
class Fitting:
    """One encode between preparing and storing: the signal as trained, its model and file."""

    signal: Signal
    kind: SignalKind
    options: EncodeOptions
    model: torch.nn.Module
    inr: InrFile
    targets: torch.Tensor
    """``(*shape, C)`` the signal in network units."""
    sampler: object
    config: TrainConfig
    fraction: float
    target_bytes: int | None
    search: dict | None


def encode(signal: Signal, options: EncodeOptions, on_step: Callable[[StepInfo], None] | None = None) -> InrFile:
    """Fit a new INR to ``signal``.  The returned file's training record holds the final score;
    with a size target (``bpp``, ``max_bytes``) the file fits it (see :mod:`inrcli.sizing`)."""
    fitting = _prepare(signal, options)
    checkpoint = None
    if options.checkpoint is not None:
        key = fingerprint(signal.values, signal.info, options.fingerprint_settings())
        checkpoint = Checkpoint(options.checkpoint, key, options.checkpoint_every)
    fitting.model.train()
    record = fit(fitting.model, fitting.sampler, fitting.config, on_step=on_step,
                 full_psnr=lambda: score(fitting.signal, fitting.inr)[fitting.kind.headline], checkpoint=checkpoint)
    return _finish(fitting, record)


def _prepare(signal: Signal, options: EncodeOptions) -> Fitting:
    """Everything an encode decides before training: options, the kind's search, the model."""
    options.check()
    kind = kind_of(signal)
    target = sizing.target_bytes(options.bpp, options.max_bytes, math.prod(signal.shape))
    if target is not None:
        options = _sized(signal, options, target)
    kind_options, search = kind.search(signal, _given(options.kind_options),
                                       lambda chosen, share: _trial(signal, options, chosen, share))
    signal = kind.prepare(signal, kind_options)
    _check_storable(kind, signal)
    if options.target_psnr is not None and kind.headline != "psnr":
        raise UsageError(f"--target-psnr does not apply to {kind.article} {kind.name}")
    _check_device(options.device)
    torch.manual_seed(options.seed)
    model = build_model(signal, options).to(options.device)
    _check_loadable(model)
    preset = kind.preset(model.name)
    offset, scale = kind.normalization(signal)
    description = SignalDescription(signal.shape, tuple((0, n) for n in signal.shape), signal.channels,
                                    offset, scale, dict(signal.info))
    inr = InrFile(model, signal.modality, description, {}, options.dtype, extras=kind.extra_tensors(signal))
    targets = np.subtract(signal.values, np.float32(offset), dtype=np.float32)
    targets /= np.float32(scale)  # in place: a video's samples are held twice at most
    targets = torch.from_numpy(targets)
    fraction = options.sample_fraction or preset.sample_fraction
    sampler = kind.sampler(TrainingData(signal, targets, partitioning_of(model), fraction, options.seed))
    config = _remaining(options.train_config(kind, signal, preset), kind.search_share(search))
    return Fitting(signal, kind, options, model, inr, targets, sampler, config, fraction, target, search)


def _finish(fitting: Fitting, record: TrainRecord) -> InrFile:
    """The file of a trained fitting: weights rounded to their storage, and the training record."""
    inr, model, options, target = fitting.inr, fitting.model, fitting.options, fitting.target_bytes
    model.eval()
    trained = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    store_precision(inr, options.storage_bits(fitting.kind), options.dtype)
    inr.elapsed = record.seconds
    inr.training = _training_record(fitting, record)
    while target is not None and inr.coding is not None and inr.coding.bits > MIN_BITS \
            and len(fileformat.to_bytes(inr)) > target:  # the estimate was short: fewer bits, same network
        inr.model.load_state_dict(trained)
        store_precision(inr, inr.coding.bits - 1, options.dtype)
        inr.training = _training_record(fitting, record)
    if fitting.search:
        inr.training["search"] = fitting.search
    inr.model = model.cpu()
    return inr


def encode_together(signals: list[Signal], options: EncodeOptions,
                    on_step: Callable[[StepInfo], None] | None = None) -> list[InrFile | InrError]:
    """Fit one INR to each of ``signals`` — of one kind and shape — in one batched model
    (:class:`~inrcli.ensemble.Ensemble`): one optimiser step trains them all.  Each file is an
    ordinary INR file, as :func:`encode` would write for that signal alone with these options
    (the same initial weights, the same batches), apart from floating-point rounding.  A time
    budget (``seconds``) is per signal: the group trains ``seconds × len(signals)``, so each member
    costs what its own encode would, and all of them get the steps that time allows together.
    A member that cannot be stored (its training diverged) is its error in the list, in its place."""
    from inrcli.ensemble import Ensemble
    from inrcli.sampling import StackedSampler

    _check_together(signals, options)
    fittings = [_prepare(signal, options) for signal in signals]
    first = fittings[0]
    if len({repr(f.model.config) for f in fittings}) != 1:
        raise UsageError("signals fitted together must get the same network: same kind, shape and options")
    stacked = torch.cat([f.targets for f in fittings], dim=-1)  # (*shape, M·C): one draw serves all
    sampler = StackedSampler(first.kind.sampler(TrainingData(first.signal, stacked, partitioning_of(first.model),
                                                             first.fraction, options.seed)), len(fittings))
    ensemble = Ensemble([f.model for f in fittings]).to(options.device)
    ensemble.train()
    seconds = None if first.config.seconds is None else first.config.seconds * len(fittings)
    record = fit(ensemble, sampler, dataclasses.replace(first.config, members=len(fittings), seconds=seconds),
                 on_step=on_step)
    ensemble.load_into([f.model for f in fittings])
    files: list[InrFile | InrError] = []
    for member, fitting in enumerate(fittings):
        own_score = record.member_scores[member] if record.member_scores else record.batch_score
        own = dataclasses.replace(record, batch_score=own_score, member_scores=None,
                                  seconds=record.seconds / len(fittings))
        try:
            inr = _finish(fitting, own)
        except InrError as exc:  # this member diverged; the others' losses and updates were their own
            files.append(exc)
            continue
        inr.training["fitted_together"] = len(fittings)
        files.append(inr)
    return files


@dataclasses.dataclass(frozen=True)
class TrainingFootprint:
    """What one more member of an :func:`encode_together` adds to a training step."""

    bytes: int
    """Its memory: what a step keeps for the backward pass, its weights, their gradients and
    Adam's two moments, its targets."""
    samples: int
    """Samples a step evaluates."""
    kept: int
    """Bytes a step keeps for its backward pass (activations, ~1.4 kB per sample for the torch
    Local-Global pass, next to nothing for its fused compiled step)."""


def training_footprint(signal: Signal, options: EncodeOptions) -> TrainingFootprint:
    """What one more member of an :func:`encode_together` of signals like ``signal`` costs a
    training step, measured on one training batch of one such signal."""
    from inrcli.train import training_losses

    fitting = _prepare(signal, options)
    kept = 0

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal kept
        kept += tensor.numel() * tensor.element_size()
        return tensor

    coords, targets = fitting.sampler.sample(torch.Generator().manual_seed(0), 0)
    coords, targets = coords.to(options.device), targets.to(options.device)
    training_losses(fitting.config, fitting.model, coords, targets)  # a first use may check a compiled step
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        training_losses(fitting.config, fitting.model, coords, targets)
    weights = sum(p.numel() * p.element_size() for p in fitting.model.parameters())
    memory = kept + 4 * weights + 2 * fitting.targets.numel() * fitting.targets.element_size()
    return TrainingFootprint(memory, fitting.sampler.batch_points, kept)


def _check_together(signals: list[Signal], options: EncodeOptions) -> None:
    """Refuse what a batched fit cannot do, before any work."""
    check_together_options(options)
    if not signals:
        raise UsageError("nothing to encode")
    if len({signal.modality for signal in signals}) != 1 \
            or len({(signal.shape, signal.channels) for signal in signals}) != 1:
        raise UsageError("signals fitted together must be of one kind and shape")
    kind = kind_of(signals[0])
    if not kind.batchable:
        raise UsageError(f"{kind.article} {kind.name} cannot be fitted together with others (--batch takes "
                         f"signals sampled on a grid: images, audio, video, volumes)")


def check_together_options(options: EncodeOptions) -> None:
    """Refuse options that a batched fit (:func:`encode_together`) cannot honour."""
    options.check()
    for flag, given in (("--target-psnr", options.target_psnr),
                        ("--checkpoint", options.checkpoint), ("--bpp", options.bpp),
                        ("--max-bytes", options.max_bytes)):
        if given is not None:
            raise UsageError(f"--batch trains every signal the same number of steps; {flag} does not apply "
                             f"(give --steps or --seconds)")


def _sized(signal: Signal, options: EncodeOptions, target: int) -> EncodeOptions:
    """``options`` with the parameter budget whose file fits in ``target`` bytes: a first estimate,
    then one from that network's own mix of tensor widths (small networks code dearer)."""
    bits, samples = options.storage_bits(kind_of(signal)), math.prod(signal.shape)
    fixed = sum(np.asarray(array).nbytes for array in kind_of(signal).extra_tensors(signal).values())
    sized = dataclasses.replace(options, bits=bits, bpp=None, max_bytes=None, params=sizing.params_for(
        target, bits + (sizing.EXTRA_BITS if bits != FLOAT_BITS else 0), samples, fixed))
    if bits != FLOAT_BITS:
        with torch.device("meta"):  # shapes only
            model = build_model(signal, sized)
        bits_per_weight, histograms = sizing.coded_cost(model, bits)
        sized.params = sizing.params_for(target, bits_per_weight, samples, fixed + histograms)
    return sized


def store_precision(inr: InrFile, bits: int, dtype: str) -> None:
    """Round the model's weights to what the file will hold (float16, or a quantisation grid of
    ``bits``), so the quality reported is that of the file, not of the float32 weights trained."""
    if bits != FLOAT_BITS:
        state = storable_state(inr.model)
        fileformat.refuse_non_finite(state, "float32")  # no grid spans a NaN
        inr.coding = Coding.fit(state, bits, tensor_roles(inr.model))
        inr.model.load_state_dict({name: torch.from_numpy(values) for name, values in inr.coding.rounded(state).items()})
    elif dtype != "float32":
        inr.model.load_state_dict({name: t.to(getattr(torch, dtype)).float()
                                   for name, t in inr.model.state_dict().items()})


def _trial(signal: Signal, options: EncodeOptions, kind_options: dict, share: float) -> float | None:
    """One candidate of a kind's search: ``share`` of the budget with ``kind_options``; the
    headline score of the samples those options set aside."""
    steps = options.planned_steps()
    trial = dataclasses.replace(options, kind_options=kind_options, checkpoint=None, target_psnr=None,
                                steps=None if steps is None else max(1, round(steps * share)),
                                seconds=None if options.seconds is None else options.seconds * share)
    inr = encode(signal, trial)
    return inr.training.get(f"holdout_{kind_of(signal).headline}")


def _remaining(config: TrainConfig, used: float) -> TrainConfig:
    """``config`` with the share ``used`` by a search taken off its steps and seconds."""
    if not used:
        return config
    return dataclasses.replace(config, steps=None if config.steps is None else max(1, round(config.steps * (1 - used))),
                               seconds=None if config.seconds is None else config.seconds * (1 - used))


def _check_storable(kind: SignalKind, signal: Signal) -> None:
    """Refuse, before any work, a signal whose description a file may not claim, so that no encode
    writes a file inr would refuse to load (a 20 MHz sample rate, a mesh 1e-31 across)."""
    try:
        kind.check_info(signal.info)
    except InrFileError as exc:
        raise SignalReadError(f"this signal cannot be stored as an INR file: {exc}") from None


def _check_loadable(model: torch.nn.Module) -> None:
    """Refuse, before training, a model past the loader's limits (a SIREN wider than 4096)."""
    try:
        type(model.config).from_dict(json.loads(json.dumps(model.config.to_dict())))
    except InrFileError as exc:
        raise UsageError(f"this model could not be loaded again: {exc}; lower --params") from None


def _training_record(fitting: Fitting, record: TrainRecord) -> dict:
    """What the file says about training: the loop's record and the final scores."""
    kind, signal, inr, sampler, fraction = fitting.kind, fitting.signal, fitting.inr, fitting.sampler, fitting.fraction
    headline = kind.headline
    # one final decode serves both scores (for graphs it costs an eigendecomposition)
    decoded = decode(inr, signal.shape, device=_model_device(inr.model))
    # wall-clock seconds are reported, not stored: same seed and flags must give the same bytes
    stored = {key: value for key, value in record.to_dict().items() if key != "seconds"}
    training = stored | {"sample_fraction": fraction, "batch_points": sampler.batch_points,
                         headline: round(kind.metrics(signal, decoded, quick=True)[headline], 4)}
    held_out = sampler.held_out
    if held_out is not None and len(held_out):
        training[f"holdout_{headline}"] = kind.metrics(Signal(signal.modality, signal.values[held_out]),
                                                       Signal(signal.modality, decoded.values[held_out]),
                                                       quick=True)[headline]
    return training


def score(reference: Signal, inr: InrFile) -> dict:
    """The kind's quick metrics of ``inr`` decoded at the reference's samples."""
    decoded = decode(inr, reference.shape, device=_model_device(inr.model))
    return kind_of(reference).metrics(reference, decoded, quick=True)


def plan_decode(inr: InrFile, options: dict | None = None) -> DecodePlan:
    """Where a decode evaluates ``inr``, from the kind's decode options (``scale``, ``size``, ``rate``…);
    the plan's ``shape`` and ``info`` describe the output."""
    return kind_of(inr).plan_decode(inr.signal, _given(options or {}))


def decode(inr: InrFile, plan: DecodePlan | tuple[int, ...] | None = None, device: str | torch.device = "cpu",
           on_progress: Callable[[int, int], None] | None = None) -> Signal:
    """Evaluate the INR where ``plan`` says: by default at the stored resolution; a shape alone
    spreads that many samples evenly over the window the file covers."""
    kind = kind_of(inr)
    if plan is None:
        plan = kind.plan_decode(inr.signal, {})
    elif not isinstance(plan, DecodePlan):
        plan = DecodePlan(tuple(plan), dict(inr.signal.info))
    values = kind.evaluate(inr, plan, device, on_progress)
    return kind.finish(values, plan, inr)


def crop(inr: InrFile, region: str) -> InrFile:
    """A new INR holding only the partitions in ``region`` (``"R0:R1,C0:C1"``, absolute indices)."""
    if not is_croppable(inr.model):
        croppable = ", ".join(name for name in MODELS if is_croppable(model_class(name)))
        raise UsageError(f"a {inr.arch} file has no partitions to crop; encode with --arch {croppable}")
    model = inr.model.crop(parse_ranges(region, inr.model.partitioning.ndim))
    signal = SignalDescription(inr.signal.full_shape, model.partitioning.window, inr.signal.channels,
                               inr.signal.offset, inr.signal.scale, dict(inr.signal.info))
    return InrFile(model, inr.modality, signal, dict(inr.training), inr.dtype, extras=dict(inr.extras),
                   coding=inr.coding)  # the same grids and histograms: kept partitions keep their bytes


@dataclass
class Comparison:
    """A candidate scored against a reference, and what an error map needs."""

    scores: dict
    reference: Signal
    """The part of the reference that was compared (a cropped file covers a region)."""
    candidate: Signal
    """The candidate as compared (an INR decoded at the reference's samples)."""
    edges: tuple[tuple[int, ...], ...] | None = None
    """Partition edges per axis in samples of the compared part (INR candidates with partitions)."""


def compare(reference: Signal, candidate: Signal | InrFile) -> Comparison:
    """Score ``candidate`` against ``reference``.  An INR is decoded where the reference is sampled
    (a cropped one against the matching region of the reference), once."""
    region, edges = None, None
    if isinstance(candidate, InrFile):
        if candidate.modality != reference.modality:
            raise UsageError(f"cannot compare a {reference.modality} with a {candidate.modality} INR")
        reference, plan, region = kind_of(reference).plan_for_reference(reference, candidate.signal)
        edges = _partition_edges(candidate, reference.shape)
        candidate = decode(candidate, plan)
    if candidate.modality != reference.modality:
        raise UsageError(f"cannot compare a {reference.modality} with a {candidate.modality}")
    kind = kind_of(reference)
    if candidate.shape != reference.shape:
        raise UsageError(f"shapes differ: reference {kind.size_text(reference.shape)}, "
                         f"candidate {kind.size_text(candidate.shape)}")
    if candidate.channels != reference.channels:
        raise UsageError(f"channels differ: reference {reference.channels}, candidate {candidate.channels}")
    scores = kind.metrics(reference, candidate)
    if region is not None:
        scores["region"] = region
    return Comparison(scores, reference, candidate, edges)


def evaluate(reference: Signal, candidate: Signal | InrFile) -> dict:
    """Metrics of ``candidate`` against ``reference`` (see :func:`compare`)."""
    return compare(reference, candidate).scores


def recorded_scores(inr: InrFile) -> dict:
    """What the file's training record says about samples kept out of training (``holdout_*``),
    under ``recorded_holdout_*`` so they are not mistaken for this comparison's scores."""
    return {f"recorded_{key}": value for key, value in inr.training.items() if key.startswith("holdout_")}


def error_map(comparison: Comparison) -> Signal:
    """A picture of where the candidate of ``comparison`` is wrong, as the kind draws it."""
    return kind_of(comparison.reference).error_map(comparison.reference, comparison.candidate, comparison.edges)


def _partition_edges(inr: InrFile, shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...] | None:
    """Edges of the kept partitions per axis, in samples of a ``shape`` decode of the window."""
    partitioning = partitioning_of(inr.model)
    if partitioning is None or len(shape) != partitioning.ndim:
        return None
    edges = []
    for axis, (lo, hi) in enumerate(partitioning.kept):
        axis_edges = partitioning.edges[axis]
        span = axis_edges[hi] - axis_edges[lo]
        edges.append(tuple(round((axis_edges[k] - axis_edges[lo]) * shape[axis] / span) for k in range(lo, hi + 1)))
    return tuple(edges)


def describe(inr: InrFile) -> dict:
    """Everything ``inr info`` shows, as plain data."""
    return fileformat.describe(inr.modality, inr.arch, inr.dtype, inr.model.config, inr.signal, inr.training,
                               inr.size_bytes, inr.bits)


def encode_summary(inr: InrFile, size_bytes: int) -> dict:
    """The headline facts of a fresh encode written as a file of ``size_bytes``, as plain data."""
    partitioning = partitioning_of(inr.model)
    headline = kind_of(inr).headline
    summary = {"modality": inr.modality, "arch": inr.arch, "params": inr.model.param_count()["total"],
               "steps": inr.training["steps"], "seconds": round(inr.elapsed or 0.0, 3),
               headline: inr.training[headline], "partitions": None if partitioning is None else list(partitioning.grid),
               **{key: value for key, value in inr.training.items() if key.startswith("holdout_")},
               "stopped_by": inr.training["stopped_by"], "bits": inr.bits, "bytes": size_bytes,
               "bpp": round(8 * size_bytes / math.prod(inr.signal.shape), 6)}
    warning = starved_warning(inr.training)
    return summary | ({"warning": warning} if warning else {})


def starved_warning(training: dict) -> str | None:
    """A warning when a time budget ended after too few steps for a usable result (a busy or slow
    machine turns a good budget into a mosaic of flat partitions), else None."""
    steps, wanted = training.get("steps", 0), int(STARVED_SHARE * DEFAULT_STEPS)
    if training.get("stopped_by") != "seconds" or steps >= wanted:
        return None
    return (f"only {steps} training steps fitted in the time budget (a usable result needs several hundred; "
            f"{DEFAULT_STEPS} is the default): expect a coarse result. The machine may be busy: give more "
            f"--seconds, fewer --params, or --steps")


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _check_device(device: str) -> None:
    try:
        torch.device(device)
    except RuntimeError:
        raise UsageError(f"--device {device!r} is not a device name (cpu, cuda, cuda:1, mps)") from None
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: no MPS device is available")


__all__ = ["Comparison", "DEFAULT_STEPS", "EncodeOptions", "build_model", "compare", "crop", "decode", "describe",
           "encode", "encode_together", "encode_summary", "error_map", "evaluate", "is_inr_file", "kind_of", "load", "plan_decode",
           "recorded_scores", "score", "starved_warning"]
