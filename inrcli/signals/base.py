"""What every kind of signal shares: the in-memory :class:`Signal`, the :class:`SignalKind` protocol
that each kind implements in its own module, and small helpers for their readers and checks.

A kind owns everything particular to one kind of signal:

* its **files** — ``read`` (raising :class:`NotMyFile` to pass a file on to the next reader
  registered for that extension) and ``write``;
* its **domain** — how many axes its samples have, which coordinates the network sees
  (``coordinate_dims``), which training batches it draws (``sampler``) and how a stored
  description turns into decode coordinates (``plan_decode``, ``evaluate``);
* its **options** — the encode and decode flags it accepts, parsed and checked by itself;
* its **presets** — training settings per architecture (:class:`Preset`);
* its **description** — size text, metric names and units (:class:`MetricSpec`).

Nothing outside ``inrcli/signals`` needs to know which kinds exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from inrcli.errors import InrFileError, SignalReadError, UsageError


@dataclass
class Signal:
    """A signal and its description.

    Attributes:
        modality: the kind's registry name, e.g. ``"image"``.
        values: ``(*shape, C)`` float32 in natural units (images: 0…1 per channel).
        info: kind-specific description that writers need (e.g. ``bit_depth``); JSON-able.
        attachments: in-memory extras that are never stored as such, e.g. the mesh behind a
            shape's occupancy grid.
    """

    modality: str
    values: np.ndarray
    info: dict = field(default_factory=dict)
    attachments: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Samples per axis, without the channel axis."""
        return tuple(self.values.shape[:-1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])


class NotMyFile(SignalReadError):
    """A reader's way of saying "this file is not for me": the next reader registered for the
    extension gets it (imageio's plugin protocol).  The last one's message reaches the user."""


LOCAL_FIRST_FREQUENCY = 0.35
"""Radians per sample: where the lg-siren's local first layers start their top frequency, for
kinds whose signals carry detail at the scale of a few samples (pictures, video, audio).  SIREN's
initialisation, made for one network over the whole signal, starts a local network over 32
pixels of a 512-pixel picture nearly linear.  At 60 s, medians of 3: astronaut 34.5 → 37.1 dB,
gt_bach 42.6 → 48.6 dB (with audio's global ω0 lowered to match); shapes and the phantom volume
gained nothing (bench/first_layer.py; bench/RESULTS.md, "The local first layer's
frequency")."""


@dataclass(frozen=True)
class Preset:
    """Training defaults of one kind for one architecture (flags override each)."""

    lr: float
    """Peak learning rate of Adam (cosine decay)."""
    sample_fraction: float
    """Share of the signal's samples drawn per training step."""
    first_w0: float = 30.0
    """First-layer frequency factor (see :meth:`SignalKind.first_frequency`)."""
    w0: float = 30.0
    """ω0 of the hidden layers (SIREN's 30)."""
    model: dict = field(default_factory=dict)
    """Architecture options, e.g. ``partition_size`` and ``global_width`` for lg-siren."""

    def with_model(self, **options) -> Preset:
        return replace(self, model={**self.model, **options})


@dataclass(frozen=True)
class MetricSpec:
    """How a score is named and printed."""

    label: str
    unit: str = ""
    digits: int = 4

    def text(self, value: float | None) -> str:
        """``"PSNR 31.20 dB"``, ``"IoU 0.9312"``, ``"PSNR ∞ dB"`` for a perfect match."""
        number = "n/a" if value is None else "∞" if value == math.inf else f"{value:.{self.digits}f}"
        return f"{self.label} {number}" + (f" {self.unit}" if self.unit else "")


@dataclass
class DecodePlan:
    """Where to evaluate a stored signal: samples per axis and the output's description.

    ``target`` carries a kind's own decode domain when it is not a grid over the stored window
    (a graph's other mesh)."""

    shape: tuple[int, ...]
    info: dict
    target: dict | None = None


@dataclass
class TrainingData:
    """What a kind's sampler draws training batches from."""

    signal: Signal
    """The prepared signal (its attachments hold any kind-specific domain)."""
    targets: object
    """``(*shape, C)`` torch tensor of the values in network units."""
    partitioning: object
    """The model's :class:`~inrcli.grid.Partitioning`, or None for a single network."""
    fraction: float
    """Share of the samples per step."""
    seed: int


class SignalKind:
    """One kind of signal.  Subclasses live one per module under ``inrcli/signals``."""

    name: str = ""
    axes: int = 0
    """Axes of the sample grid (the stored ``full_shape`` has this many entries)."""
    partitionable: bool = True
    """Whether the samples lie on a grid that partitions can split (croppable architectures)."""
    extendable: bool = False
    """Whether ``inr extend`` may grow a file of this kind (a grid sampled by ``GridSampler``)."""
    batchable: bool = False
    """Whether many signals of this kind and one shape can be fitted as one batched model
    (``inr encode --batch``): samples on a grid, drawn by the default sampler."""
    default_bits: int = 8
    """Bits per stored weight when ``--bits`` is not given (32: float32 weights).  Quantised to 8
    bits and entropy-coded, a picture's, video's, shape's or volume's file is 0.22–0.24 of its
    float32 one for 0.02–0.09 dB (7 bits: 0.20–0.30 dB); bench/RESULTS.md, "Coded audio, and
    every kind at 8 bits"."""
    viewed_beside_original: bool = False
    """Whether ``inr view`` can show the original (a picture the browser decodes) beside the decode."""
    viewed_as_surface: bool = False
    """Whether ``inr view`` shows the decode as a surface (:meth:`view_surface`) rather than a plane."""
    default_arch: str = "lg-siren"
    default_output: str = ""
    """Extension a decode writes when no output is named."""
    frame_kind: str | None = None
    """The kind of one frame, for kinds written as numbered pictures (``frames/%04d.png``)."""
    presets: dict[str, Preset] = {}
    """Training defaults by architecture name; ``"*"`` serves any other architecture."""
    metric_specs: dict[str, MetricSpec] = {"psnr": MetricSpec("PSNR", "dB", 2)}
    """Scores :meth:`metrics` returns, headline first."""
    network_peak: float = 2.0
    """Peak value of the PSNR convention in network units (images: 1 in 0…1 = 2 in −1…1)."""
    encode_options: frozenset[str] = frozenset()
    """Kind-specific encode flags (:meth:`prepare` reads them)."""
    decode_options: frozenset[str] = frozenset({"scale"})
    """Decode flags :meth:`plan_decode` accepts."""
    format_major: int = 2
    """The file-format major version this kind's files are written as: the oldest whose readers
    decode them exactly (docs/FORMAT.md, "Versions")."""

    # ---- files -------------------------------------------------------------------------------
    def read(self, path, ext: str) -> Signal:
        raise NotImplementedError

    def write(self, signal: Signal, path, ext: str, options: dict) -> None:
        raise NotImplementedError

    def frames(self, signal: Signal) -> list[Signal]:
        """The signal as a sequence of pictures, for numbered outputs such as ``frames/%04d.png``."""
        raise UsageError(f"{self.article} {self.name} cannot be written as numbered frames")

    # ---- description -------------------------------------------------------------------------
    @property
    def article(self) -> str:
        return "an" if self.name[:1] in "aeiou" else "a"

    @property
    def headline(self) -> str:
        return next(iter(self.metric_specs))

    def check_info(self, info: dict) -> None:
        """Refuse a stored signal description this kind cannot use (raise ``InrFileError``)."""

    def size_text(self, shape: tuple[int, ...]) -> str:
        """Human size of a decode of ``shape`` samples."""
        return "×".join(map(str, shape))

    def rate_fields(self, info: dict) -> dict:
        """Output rates worth reporting (``{"rate": 44100}``); none by default."""
        return {}

    def rate_text(self, info: dict) -> str:
        return ""

    # ---- training ----------------------------------------------------------------------------
    def preset(self, arch: str) -> Preset:
        try:
            return self.presets[arch] if arch in self.presets else self.presets["*"]
        except KeyError:
            raise UsageError(f"{arch} has no training preset for {self.article} {self.name}") from None

    def prepare(self, signal: Signal, options: dict) -> Signal:
        """The signal as training needs it, given the kind's encode flags (none by default)."""
        self.check_options(options, self.encode_options, "encodes")
        return signal

    def search(self, signal: Signal, options: dict, trial) -> tuple[dict, dict | None]:
        """Settings chosen by trial runs before the real fit (none by default): the encode
        options to use, and a record of the search for the file (or None).

        ``trial(options, share)`` trains on ``share`` of the budget with ``options`` and returns
        the headline score of the nodes or samples the options set aside for validation."""
        return options, None

    def search_share(self, record: dict | None) -> float:
        """Share of the training budget a search used (the real fit gets the rest)."""
        return 0.0

    def check_options(self, options: dict, accepted: frozenset[str], what: str) -> None:
        """Refuse flags this kind does not take, naming the ones it does."""
        unknown = sorted(set(options) - accepted)
        if unknown:
            flags = [f"--{name.replace('_', '-')}" for name in sorted(accepted)]
            takes = " or ".join([", ".join(flags[:-1]), flags[-1]] if len(flags) > 1 else flags) or "no such flags"
            raise UsageError(f"--{unknown[0].replace('_', '-')} does not apply to {self.article} {self.name}; "
                             f"{self.name} {what} take {takes}")

    def coordinate_dims(self, info: dict) -> int:
        """Input dimensions of the network for a signal described by ``info``."""
        return self.axes

    def first_frequency(self, signal: Signal, preset: Preset) -> float:
        """ω0 of the first layer for this signal; by default the preset's."""
        return preset.first_w0

    def default_budget(self, signal: Signal) -> int:
        raise NotImplementedError

    def normalization(self, signal: Signal) -> tuple[float, float]:
        """``(offset, scale)`` so that network units are ``(values - offset) / scale`` in [-1, 1]."""
        raise NotImplementedError

    def loss(self, signal: Signal) -> str:
        """Training loss: ``mse`` (default), ``bce`` (logits against 0/1) or ``l1``."""
        return "mse"

    def sampler(self, data: TrainingData):
        """Training batches: by default samples of the gridded targets."""
        from inrcli.sampling import GridSampler

        return GridSampler(data.targets, data.partitioning, data.fraction, data.seed)

    def extra_tensors(self, signal: Signal) -> dict:
        """Arrays the file stores besides the weights (name → array); none by default."""
        return {}

    def expected_extras(self, info: dict, channels: int) -> dict:
        """Name → (shape, safetensors dtype) of the extra arrays a valid file holds."""
        return {}

    def index_limit(self, description) -> int:
        """Integer extra arrays index items below this (a graph's faces: its nodes)."""
        return description.full_shape[0]

    # ---- decoding ----------------------------------------------------------------------------
    def plan_decode(self, description, options: dict) -> DecodePlan:
        """Samples per axis of a decode and the output's info, from the kind's decode flags.

        ``description`` is the file's :class:`~inrcli.fileformat.SignalDescription`."""
        self.check_options(options, self.decode_options, "decodes")
        return DecodePlan(scaled_shape(description.shape, options.get("scale"), None), dict(description.info))

    def plan_for_reference(self, reference: Signal, description) -> tuple[Signal, DecodePlan, list | None]:
        """How to compare a stored signal with ``reference``: the part of the reference the file
        covers, a plan that decodes at its samples, and the cropped region (None if whole)."""
        window, region = reference_window(reference.shape, description)
        part = reference.values[tuple(slice(lo, hi) for lo, hi in window)]
        part_signal = Signal(reference.modality, part, reference.info, reference.attachments)
        return part_signal, DecodePlan(part_signal.shape, dict(description.info)), region

    def evaluate(self, inr, plan: DecodePlan, device, on_progress=None) -> np.ndarray:
        """The values of ``inr`` (an :class:`~inrcli.fileformat.InrFile`) in natural units on the
        plan's grid over the window the file covers: ``(*plan.shape, C)`` float32."""
        from inrcli.inference import check_decode_memory, decode_grid

        description = inr.signal
        check_decode_memory(plan.shape, description.channels)
        values = decode_grid(inr.model.to(device), plan.shape, description.window, description.full_shape, device,
                             on_progress)
        values *= np.float32(description.scale)  # in place: a large decode must not hold two copies
        values += np.float32(description.offset)
        return values

    def view_surface(self, inr) -> tuple[np.ndarray, np.ndarray]:
        """The surface ``inr view`` draws, in the file's normalised coordinates: vertices
        ``(V, 3)`` float32 and faces ``(F, 3)`` int (kinds with :attr:`viewed_as_surface`)."""
        raise NotImplementedError(f"{self.name} files are not viewed as surfaces")

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        """Turn decoded natural-unit values ``(*shape, C)`` of ``inr`` into a signal (clipping, etc.)."""
        return Signal(self.name, values, dict(plan.info))

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """Scores of ``candidate`` against ``reference``; ``quick`` asks only for the headline one."""
        raise NotImplementedError

    def error_map(self, reference: Signal, candidate: Signal, edges) -> Signal:
        """A picture of where ``candidate`` differs from ``reference`` (``edges``: partition edges)."""
        raise UsageError(f"--error-map is not available for {self.article} {self.name}")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line errors."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_size(value, axes: int, flag: str = "--size") -> tuple[int, ...]:
    """Text such as ``"640x480"`` → samples per axis, rows first; a tuple is already rows first.

    Pictures are written width first (``640x480``), so two numbers are reversed; three are taken
    in order (``depth x rows x columns``, as volumes are usually described)."""
    if value is None or isinstance(value, tuple):
        return value
    try:
        numbers = tuple(int(v) for v in str(value).lower().split("x"))
    except ValueError:
        raise UsageError(f"{flag}: expected whole numbers separated by 'x', got {value!r}") from None
    if any(n < 1 for n in numbers):
        raise UsageError(f"{flag}: numbers must be positive, got {value!r}")
    if len(numbers) != axes:
        raise UsageError(f"{flag} needs {axes} numbers, got {value!r}")
    return tuple(reversed(numbers)) if axes == 2 else numbers


def scaled_shape(shape: tuple[int, ...], scale: float | None, size: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` times ``scale`` (rounded, at least 1), or exactly ``size``; rows first."""
    if scale is not None and size is not None:
        raise UsageError("give --scale or --size, not both")
    if size is not None:
        if len(size) != len(shape) or min(size) < 1:
            raise UsageError(f"--size needs {len(shape)} positive numbers")
        return tuple(size)
    if scale is None:
        return tuple(shape)
    if not scale > 0 or not math.isfinite(scale):
        raise UsageError("--scale must be a positive number")
    return tuple(max(1, round(n * scale)) for n in shape)


def reference_window(ref_shape: tuple[int, ...], description) -> tuple[tuple[tuple[int, int], ...], list | None]:
    """The part of a reference of ``ref_shape`` that a (possibly cropped) file covers, in
    reference samples, and that window as a list when it is not the whole reference."""
    full = description.full_shape
    if len(ref_shape) != len(full):
        raise UsageError(f"the reference has {len(ref_shape)} axes, the encoded signal {len(full)}")
    window = []
    for n_ref, n_full, (lo, hi) in zip(ref_shape, full, description.window):
        lo_ref, hi_ref = lo * n_ref / n_full, hi * n_ref / n_full
        if lo_ref != int(lo_ref) or hi_ref != int(hi_ref):
            raise UsageError(f"the reference ({_dims_text(ref_shape)}) is not a whole multiple of the "
                             f"encoded signal ({_dims_text(full)}) over the cropped window")
        window.append((int(lo_ref), int(hi_ref)))
    cropped = tuple(window) != tuple((0, n) for n in ref_shape)
    return tuple(window), [list(w) for w in window] if cropped else None


def _dims_text(shape: tuple[int, ...]) -> str:
    """Samples per axis as people write them: width first for pictures."""
    return "×".join(map(str, reversed(shape) if len(shape) == 2 else shape))


def require(info: dict, key: str, kind, low=None, high=None, choices=None, optional: bool = False) -> None:
    """Check one field of untrusted signal metadata: its type, range or allowed values."""
    if key not in info:
        if optional:
            return
        raise InrFileError(f"signal metadata lacks {key!r}")
    value = info[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InrFileError(f"signal metadata {key!r} has the wrong type")
    if isinstance(value, float) and not math.isfinite(value):
        raise InrFileError(f"signal metadata {key!r} is not finite")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InrFileError(f"signal metadata {key!r} = {value} is out of range")
    if choices is not None and value not in choices:
        raise InrFileError(f"signal metadata {key!r} = {value!r} is not one of {sorted(choices)}")
