"""The library behind the CLI: encode, decode, crop, evaluate and describe.  No typer, no printing."""

from __future__ import annotations

import math
from collections.abc import Callable
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from inrcli import __version__
from inrcli.checkpoint import Checkpoint, fingerprint
from inrcli.errors import ResourceError, UsageError
from inrcli.fileformat import STORAGE_DTYPES, InrFile, SignalDescription
from inrcli.grid import Partitioning, auto_grid, parse_ranges
from inrcli.inference import decode_grid
from inrcli.models import is_croppable, model_class
from inrcli.signals import Signal, modality
from inrcli.train import StepInfo, TrainConfig, fit

DEFAULT_STEPS = 2000
MAX_DECODE_BYTES = 8 << 30  # refuse decodes whose float32 output alone would exceed this


@dataclass
class EncodeOptions:
    """Everything ``inr encode`` can be told.  None means the modality's default."""

    arch: str | None = None
    """Architecture; None for the modality's default (lg-siren; siren for graphs)."""
    partitions: tuple[int, ...] | None = None
    """Partitions per axis; None for automatic (about ``partition_size`` samples each)."""
    params: int | None = None
    """Parameter budget."""
    steps: int | None = None
    seconds: float | None = None
    target_psnr: float | None = None
    lr: float | None = None
    """Peak learning rate; None for the modality's default."""
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    """Storage precision of the weights in the file."""
    sample_fraction: float | None = None
    """Share of each partition's samples per step."""
    global_fraction: float | None = None
    """Share of the budget for the global branch and merge layer (lg-siren); None for the modality's."""
    global_width: int | None = None
    """Fixed global width (lg-siren); overrides ``global_fraction``."""
    field: str | None = None
    """Shapes: ``occupancy`` (default) or ``sdf``."""
    k: int | None = None
    """Graphs: Laplacian eigenvectors in the node embedding (default 100)."""
    holdout: float = 0.0
    """Graphs: share of the nodes left out of training, to measure generalisation on."""
    constant_lr: bool = False
    """Keep the learning rate constant instead of the cosine decay (published baselines)."""
    checkpoint: str | None = None
    """Resumable training: the state is saved to (and resumed from) this file."""
    checkpoint_every: float = 30.0
    """Least training seconds between two checkpoint saves."""

    def fingerprint_settings(self) -> dict:
        """The settings that shape training (not where or how often it is checkpointed)."""
        settings = dataclasses.asdict(self)
        for name in ("checkpoint", "checkpoint_every"):
            settings.pop(name)
        return settings | {"software": __version__}


@dataclass
class DecodeRequest:
    """How densely to decode; None means as stored.  Each modality accepts its own subset."""

    scale: float | None = None
    size: tuple[int, ...] | None = None
    """Samples per axis of the picture, rows first (images and video frames)."""
    rate: float | None = None
    """Audio sample rate (Hz)."""
    fps: float | None = None
    frames: int | None = None
    resolution: int | None = None
    """Shapes: samples per axis across the whole cube."""


MIN_PARAMS_PER_PARTITION = 700  # ~ a width-14 local network; fewer and automatic grids get coarser


def automatic_grid(shape: tuple[int, ...], partition_size, budget: int) -> tuple[int, ...]:
    """Partitions of about ``partition_size`` samples, coarser when the budget cannot feed them."""
    sizes = [float(p) for p in (partition_size if isinstance(partition_size, tuple) else (partition_size,) * len(shape))]
    grid = auto_grid(shape, tuple(sizes))
    while math.prod(grid) > 1 and math.prod(grid) * MIN_PARAMS_PER_PARTITION > 0.9 * budget:
        sizes = [s * 1.25 for s in sizes]
        grid = auto_grid(shape, tuple(sizes))
    return grid


def build_model(signal: Signal, options: EncodeOptions) -> torch.nn.Module:
    """A freshly initialised model for ``signal`` within the parameter budget."""
    mod = modality(signal.modality)
    arch = options.arch or mod.default_arch
    cls = model_class(arch)
    budget = options.params or mod.default_budget(signal.shape, signal.channels)
    settings = {"first_w0": round(mod.first_frequency(signal), 3), "w0": mod.hidden_w0}
    if is_croppable_arch(arch):
        if mod.ndim is None:
            raise UsageError(f"a {signal.modality} has no grid to partition; use --arch siren")
        grid = options.partitions or automatic_grid(signal.shape, mod.partition_size, budget)
        settings |= {"partitioning": Partitioning.even(signal.shape, tuple(grid)),
                     "global_fraction": options.global_fraction or mod.global_fraction,
                     "global_width": options.global_width or mod.global_width}
    elif options.partitions is not None:
        raise UsageError(f"--partitions applies to lg-siren, not {arch}")
    return cls.for_budget(mod.coordinate_dims(signal.info), signal.channels, budget, **settings)


def is_croppable_arch(arch: str) -> bool:
    return arch == "lg-siren"


def encode(signal: Signal, options: EncodeOptions, on_step: Callable[[StepInfo], None] | None = None) -> InrFile:
    """Fit a new INR to ``signal``.  The returned file's training record holds the final PSNR."""
    if options.dtype not in STORAGE_DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(STORAGE_DTYPES)}")
    mod = modality(signal.modality)
    if options.field is not None:
        if signal.modality != "shape":
            raise UsageError("--field applies to shapes")
        signal = mod.with_field(signal, options.field)
    if options.target_psnr is not None and mod.headline_metric != "psnr":
        raise UsageError(f"--target-psnr does not apply to a {signal.modality}")
    if signal.modality == "graph":
        signal = mod.prepare(signal, options.k)
        signal.info["holdout"] = options.holdout
    elif options.k is not None or options.holdout:
        raise UsageError("--k and --holdout apply to graph signals")
    _check_device(options.device)
    torch.manual_seed(options.seed)
    model = build_model(signal, options).to(options.device)
    offset, scale = mod.normalization(signal)
    description = SignalDescription(signal.shape, tuple((0, n) for n in signal.shape), signal.channels,
                                    offset, scale, dict(signal.info))
    inr = InrFile(model, signal.modality, description, {}, options.dtype, extras=mod.extra_tensors(signal))
    targets = np.subtract(signal.values, np.float32(offset), dtype=np.float32)
    targets /= np.float32(scale)  # in place: a video's samples are held twice at most
    targets = torch.from_numpy(targets)
    fraction = options.sample_fraction or mod.sample_fraction
    sampler = mod.sampler(signal, targets, getattr(model, "partitioning", None), fraction, options.seed)
    steps = options.steps if options.steps or options.seconds else DEFAULT_STEPS
    config = TrainConfig(steps=steps, seconds=options.seconds, target_psnr=options.target_psnr,
                         lr=options.lr or mod.learning_rate,
                         seed=options.seed, device=options.device, psnr_peak=mod.network_peak,
                         loss=mod.loss(signal), min_lr_ratio=1.0 if options.constant_lr else 0.01)

    def full_score() -> float:
        return score(signal, inr)[mod.headline_metric]

    checkpoint = None
    if options.checkpoint is not None:
        key = fingerprint(signal.values, signal.info, options.fingerprint_settings())
        checkpoint = Checkpoint(options.checkpoint, key, options.checkpoint_every)
    model.train()
    record = fit(model, sampler, config, on_step=on_step, full_psnr=full_score, checkpoint=checkpoint)
    model.eval()
    headline = mod.headline_metric
    if options.dtype != "float32":  # report the quality of what is stored, not of the float32 weights
        inr.model.load_state_dict({k: v.to(STORAGE_DTYPES[options.dtype][0]).float()
                                   for k, v in model.state_dict().items()})
    # one final decode serves both scores (for graphs it costs an eigendecomposition)
    decoded = decode(inr, signal.shape, device=_model_device(model))
    # wall-clock seconds are reported, not stored: same seed and flags must give the same bytes
    stored = {key: value for key, value in record.to_dict().items() if key != "seconds"}
    inr.elapsed = record.seconds
    inr.training = stored | {"sample_fraction": fraction, "batch_points": sampler.batch_points,
                                       headline: round(mod.metrics(signal, decoded, quick=True)[headline], 4)}
    held_out = getattr(sampler, "held_out", None)
    if held_out is not None and len(held_out):
        inr.training[f"holdout_{headline}"] = mod.metrics(Signal(signal.modality, signal.values[held_out]),
                                                          Signal(signal.modality, decoded.values[held_out]),
                                                          quick=True)[headline]
    inr.model = model.cpu()
    return inr


def _check_decode_memory(out_shape: tuple[int, ...], channels: int) -> None:
    """Refuse a decode whose output would not fit, with the estimate and a way forward."""
    needed = math.prod(out_shape) * channels * 4  # the float32 output; decoding adds a bounded working set
    available = _available_memory()
    limit = min(MAX_DECODE_BYTES, int(0.7 * available)) if available else MAX_DECODE_BYTES
    if needed > limit:
        have = f" ({available / 2**30:.1f} GiB available)" if available else ""
        raise ResourceError(f"a {'×'.join(map(str, out_shape))} decode needs about {needed / 2**30:,.1f} GiB of memory"
                            f"{have}; decode a smaller size or crop a region first (inr crop)")


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where there is no such file."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def score(reference: Signal, inr: InrFile) -> dict:
    """The modality's metrics of ``inr`` decoded at the reference's samples."""
    return modality(reference.modality).metrics(reference, decode(inr, reference.shape, device=_model_device(inr.model)),
                                                quick=True)


def output_shape(inr: InrFile, request: DecodeRequest | None = None) -> tuple[tuple[int, ...], dict]:
    """Samples per axis of a decode and the output's description (rate, fps, …)."""
    return modality(inr.modality).output_shape(inr.signal.shape, inr.signal.info, request or DecodeRequest())


def decode(inr: InrFile, out_shape: tuple[int, ...] | None = None, device: str | torch.device = "cpu",
           on_progress: Callable[[int, int], None] | None = None, info: dict | None = None,
           mesh: dict | None = None) -> Signal:
    """Evaluate the INR on ``out_shape`` samples spread evenly over the window it covers.

    ``info`` describes the output (e.g. its sample rate); by default the stored description.
    Graph signals are decoded on their stored mesh, or on ``mesh`` (``points``, ``faces``,
    ``edges``): another discretisation of the same surface.
    """
    if inr.modality == "graph":
        return _decode_graph(inr, mesh, device)
    out_shape = out_shape or inr.signal.shape
    _check_decode_memory(out_shape, inr.signal.channels)
    model = inr.model.to(device)
    values = decode_grid(model, out_shape, inr.signal.window, inr.signal.full_shape, device, on_progress)
    values *= np.float32(inr.signal.scale)  # in place: a large decode must not hold two copies
    values += np.float32(inr.signal.offset)
    info = dict(info if info is not None else inr.signal.info)
    info["window_coords"] = [[2 * lo / n - 1, 2 * hi / n - 1] for (lo, hi), n in
                             zip(inr.signal.window, inr.signal.full_shape)]
    return modality(inr.modality).finish(values, info)


def _decode_graph(inr: InrFile, mesh: dict | None, device) -> Signal:
    from inrcli.inference import evaluate_points
    from inrcli.signals.graph import aligned_embedding

    extras = inr.extras
    if mesh is None:
        mesh = {"points": extras["graph.points"], "faces": extras.get("graph.faces"), "edges": extras.get("graph.edges")}
    embedding = aligned_embedding(mesh["points"], mesh.get("faces"), mesh.get("edges"), inr.signal.info["k"],
                                  extras["graph.anchor_points"], extras["graph.anchor_embedding"])
    values = evaluate_points(inr.model.to(device), torch.from_numpy(embedding), device)
    values = values * np.float32(inr.signal.scale) + np.float32(inr.signal.offset)
    info = {**inr.signal.info, "nodes": len(mesh["points"])}
    return Signal("graph", values, info, attachments={"points": mesh["points"], "faces": mesh.get("faces"),
                                                      "edges": mesh.get("edges")})


def crop(inr: InrFile, region: str) -> InrFile:
    """A new INR holding only the partitions in ``region`` (``"R0:R1,C0:C1"``, absolute indices)."""
    if not is_croppable(inr.model):
        raise UsageError(f"a {inr.arch} file has no partitions to crop; encode with --arch lg-siren")
    ranges = parse_ranges(region, inr.model.partitioning.ndim)
    model = inr.model.crop(ranges)
    signal = SignalDescription(inr.signal.full_shape, model.partitioning.window, inr.signal.channels,
                               inr.signal.offset, inr.signal.scale, dict(inr.signal.info))
    return InrFile(model, inr.modality, signal, dict(inr.training), inr.dtype, extras=dict(inr.extras))


def evaluate(reference: Signal, candidate: Signal | InrFile) -> dict:
    """Metrics of ``candidate`` against ``reference``.

    An INR candidate is decoded at the reference's resolution; a cropped one is compared with
    the matching region of the reference.
    """
    region = None
    if isinstance(candidate, InrFile) and candidate.modality == "graph" == reference.modality:
        candidate = decode(candidate, mesh=reference.attachments)  # on the reference's own mesh
    if isinstance(candidate, InrFile):
        if candidate.modality != reference.modality:
            raise UsageError(f"cannot compare a {reference.modality} with a {candidate.modality} INR")
        window, region = _reference_window(reference.shape, candidate)
        reference = Signal(reference.modality, reference.values[tuple(slice(lo, hi) for lo, hi in window)],
                           reference.info, reference.attachments)
        candidate = decode(candidate, reference.shape)
    if candidate.modality != reference.modality:
        raise UsageError(f"cannot compare a {reference.modality} with a {candidate.modality}")
    if candidate.shape != reference.shape:
        raise UsageError(f"shapes differ: reference {_shape_text(reference.shape)}, "
                         f"candidate {_shape_text(candidate.shape)}")
    if candidate.channels != reference.channels:
        raise UsageError(f"channels differ: reference {reference.channels}, candidate {candidate.channels}")
    result = modality(reference.modality).metrics(reference, candidate)
    if region is not None:
        result["region"] = region
    return result


def _reference_window(ref_shape: tuple[int, ...], inr: InrFile) -> tuple[tuple[tuple[int, int], ...], list | None]:
    """The part of a reference of ``ref_shape`` that ``inr`` covers, in reference samples."""
    full = inr.signal.full_shape
    window = []
    for n_ref, n_full, (lo, hi) in zip(ref_shape, full, inr.signal.window):
        lo_ref, hi_ref = lo * n_ref / n_full, hi * n_ref / n_full
        if lo_ref != int(lo_ref) or hi_ref != int(hi_ref):
            raise UsageError(f"the reference ({_shape_text(ref_shape)}) is not a whole multiple of the encoded "
                             f"signal ({_shape_text(full)}) over the cropped window")
        window.append((int(lo_ref), int(hi_ref)))
    cropped = tuple(window) != tuple((0, n) for n in ref_shape)
    return tuple(window), [list(w) for w in window] if cropped else None


def describe(inr: InrFile) -> dict:
    """Everything ``inr info`` shows, as plain data."""
    counts = inr.model.param_count()
    partitioning = getattr(inr.model, "partitioning", None)
    result = {
        "modality": inr.modality, "arch": inr.arch, "dtype": inr.dtype,
        "shape": list(inr.signal.shape), "full_shape": list(inr.signal.full_shape),
        "window": [list(w) for w in inr.signal.window], "channels": inr.signal.channels,
        "params": counts["total"], "param_counts": counts, "file_bytes": inr.size_bytes,
        "signal_info": inr.signal.info, "training": inr.training,
        "config": inr.model.config.to_dict(),
    }
    if partitioning is not None:
        result["partitions"] = list(partitioning.grid)
        result["kept"] = [list(k) for k in partitioning.kept]
        result["cropped"] = partitioning.is_cropped
        del result["config"]["partitioning"]
    else:
        result["partitions"] = None
    return result


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in reversed(shape)) if len(shape) == 2 else "×".join(map(str, shape))


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
