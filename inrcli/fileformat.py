"""The ``.safetensors`` INR file: weights plus JSON metadata; read and validated without unpickling.

Layout (docs/FORMAT.md): safetensors tensors named after the model's state dict, and string
metadata keys ``inr.version`` (``"MAJOR.MINOR"``), ``inr.kind``, ``inr.arch``, ``inr.dtype``,
``inr.model`` (JSON config), ``inr.signal`` (JSON description), ``inr.training`` (JSON record)
and ``inr.software``.  Version 1 files (bare keys ``format``, ``version``, ``modality``, …) are
read forever; unknown metadata keys and ``aux.*`` tensors are ignored (the versioning policy).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from inrcli import __version__, coded
from inrcli.coded import Coding
from inrcli.errors import InrError, InrFileError
from inrcli.files import STDIO, atomic_output, input_path, read_head
from inrcli.models import config_class, local_tensor_test, model_class

if TYPE_CHECKING:  # torch is imported where weights are read or written: a header needs none
    import torch

FORMAT_VERSION = (6, 0)  # (major, minor): a reader reads every minor of the majors it knows
# A file is written as the oldest version that decodes it exactly: the largest of its kind's and
# its architecture's ``format_major``, 4 for quantised, entropy-coded weights (``inr.coding``) and
# 5 for coded weights beside some stored as float32 (``inr.coding``'s ``float`` list). 3 changed
# only graph files, 4 added coded weights and sets, 5 float tensors in a coded file, 6 sets with
# spatial codes, so every other file is still written as 2.0, byte for byte.
CODED_MAJOR, CODED_FLOAT_MAJOR = 4, 5
KEY_PREFIX = "inr."
AUX_PREFIX = "aux."  # tensors a later minor version may add; readers of earlier minors ignore them
V1_KEYS = {"kind": "modality", "arch": "arch", "dtype": "dtype", "model": "model", "signal": "signal",
           "training": "training", "software": "software"}  # version 1: field → its bare key
MAX_FILE_BYTES = 1 << 30
MAX_HEADER_BYTES = 16 << 20
STORAGE_DTYPES = {"float32": "F32", "float16": "F16"}  # --dtype → safetensors' name (torch's is the same word)
# Trained SIREN weights stay within a few units; ω0 = 3000 times anything near float32's range
# overflows to inf and sin(inf) is NaN, so far larger magnitudes mean a damaged or forged file.
MAX_WEIGHT = 1e4


@dataclass
class SignalDescription:
    """What was encoded, in the file's metadata.

    Attributes:
        full_shape: samples per axis of the original signal.
        window: per axis ``[lo, hi)`` in samples of ``full_shape`` that the file covers
            (the whole signal unless cropped).
        channels: values per sample.
        offset, scale: network output ``y`` means ``offset + scale * y`` in natural units.
        info: modality details (e.g. ``bit_depth``).
    """

    full_shape: tuple[int, ...]
    window: tuple[tuple[int, int], ...]
    channels: int
    offset: float
    scale: float
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        """Samples per axis of the covered window at the original resolution."""
        return tuple(hi - lo for lo, hi in self.window)

    def to_dict(self) -> dict:
        return {"full_shape": list(self.full_shape), "window": [list(w) for w in self.window],
                "channels": self.channels, "offset": self.offset, "scale": self.scale, "info": self.info}

    @classmethod
    def from_dict(cls, data: object) -> SignalDescription:
        try:
            full_shape = tuple(int(n) for n in data["full_shape"])
            window = tuple((int(lo), int(hi)) for lo, hi in data["window"])
            channels, offset, scale = int(data["channels"]), float(data["offset"]), float(data["scale"])
            info = data.get("info", {})
        except (TypeError, KeyError, ValueError) as exc:
            raise InrFileError(f"signal metadata is malformed ({exc})") from None
        if len(window) != len(full_shape) or not all(0 <= lo < hi <= n for (lo, hi), n in zip(window, full_shape)):
            raise InrFileError("signal window lies outside the signal")
        if not (math.isfinite(offset) and math.isfinite(scale) and scale > 0) or not isinstance(info, dict):
            raise InrFileError("signal normalisation is malformed")
        return cls(full_shape, window, channels, offset, scale, info)


@dataclass
class InrFile:
    """A loaded, validated INR file."""

    model: torch.nn.Module
    modality: str
    signal: SignalDescription
    training: dict
    dtype: str
    size_bytes: int = 0
    extras: dict = field(default_factory=dict)
    """Arrays stored beside the weights (name → numpy array), e.g. a graph's mesh and anchors."""
    elapsed: float | None = None
    """Training seconds of a fresh encode; never stored (files must not depend on the clock)."""
    coding: Coding | None = None
    """How quantised weights are stored (format 4); None for float weights. The model then holds
    the dequantised weights, and a crop keeps this, so kept partitions keep their bytes."""

    @property
    def bits(self) -> int:
        """Bits per stored weight: the coded width, else 16 or 32 for floats."""
        return self.coding.bits if self.coding is not None else (16 if self.dtype == "float16" else 32)

    @property
    def arch(self) -> str:
        return self.model.name


def refuse_non_finite(tensors: dict, dtype: str) -> None:
    """Raise InrError naming the first weight (a torch tensor or numpy array) that is not finite
    in ``dtype``: training diverged, and no file may hold it."""
    for name, tensor in tensors.items():
        if not np.isfinite(np.asarray(tensor)).all():
            raise InrError(f"weight {name} is not finite in {dtype}; training diverged (try a lower --lr)")


def to_bytes(inr: InrFile) -> bytes:
    """Serialise to safetensors bytes (deterministic for identical content)."""
    import torch
    from safetensors.torch import save as save_tensors

    torch_dtype = getattr(torch, inr.dtype)
    tensors = {name: t.detach().to("cpu", torch_dtype).contiguous() for name, t in inr.model.state_dict().items()}
    refuse_non_finite(tensors, inr.dtype)
    from inrcli.signals import signal_kind

    fields = {
        "version": "%d.0" % max(_coding_major(inr.coding), signal_kind(inr.modality).format_major,
                                getattr(inr.model, "format_major", 0)),
        "kind": inr.modality,
        "arch": inr.model.name,
        "model": json.dumps(inr.model.config.to_dict()),
        "signal": json.dumps(inr.signal.to_dict()),
        "training": json.dumps(finite_json(inr.training), allow_nan=False),  # a perfect fit's PSNR is null
        "dtype": inr.dtype,
        "software": f"inrcli {__version__}",
    }
    if inr.coding is None:
        for name, array in inr.extras.items():
            tensors[name] = torch.from_numpy(np.ascontiguousarray(array))
        metadata = {KEY_PREFIX + key: value for key, value in fields.items()}
        return _canonical_header(save_tensors(tensors, metadata=metadata))
    from safetensors.numpy import save as save_arrays

    fields["coding"] = inr.coding.metadata()
    metadata = {KEY_PREFIX + key: value for key, value in fields.items()}
    arrays = inr.coding.pack({name: t.float().numpy() for name, t in tensors.items()}, local_tensor_test(inr.model))
    arrays |= {name: np.ascontiguousarray(array) for name, array in inr.extras.items()}
    return _canonical_header(save_arrays(arrays, metadata=metadata))


def _coding_major(coding: Coding | None) -> int:
    """The format major a file's weights storage asks for (0: float weights, any version)."""
    if coding is None:
        return 0
    return CODED_FLOAT_MAJOR if coding.floats else CODED_MAJOR


def finite_json(value):
    """``value`` with every non-finite float replaced by None, so that it is strict JSON
    (Python would write ``Infinity``, which no other JSON reader accepts)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def _canonical_header(data: bytes) -> bytes:
    """Rewrite the header with sorted keys: safetensors stores metadata in a hash map whose
    order changes from process to process, and the same weights must give the same bytes."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # tensor data stays 8-byte aligned
    return struct.pack("<Q", len(text)) + text + data[8 + length:]


def save(inr: InrFile, path: Path) -> int:
    """Write ``inr`` to ``path``, after proving that the bytes load again through the same
    validating loader as any other file (so no command writes a file inr would refuse)."""
    data = to_bytes(inr)
    try:
        from_bytes(data)
    except InrFileError as exc:
        raise InrError(f"the result would not load again ({exc}); nothing was written") from None
    Path(path).write_bytes(data)
    return len(data)


def save_to(inr: InrFile, target: str, force: bool, inputs: tuple[str, ...] = ()) -> int:
    """Write ``inr`` to ``target`` (or ``-``) through a temporary file renamed into place; its size."""
    with atomic_output(target, force, "safetensors", inputs) as tmp:
        return save(inr, tmp)


def load(path: Path) -> InrFile:
    """Read and validate an INR file; anything unexpected raises :class:`InrFileError`."""
    return from_bytes(_read_bounded(Path(path), Path(path).name))


def _read_bounded(path: Path, name: str) -> bytes:
    """The file's bytes, refused unread when it is larger than any INR file inr writes."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InrFileError(f"{name} is {size} bytes, larger than any INR file inr writes")
    return path.read_bytes()


def read_header(data: bytes) -> tuple[dict, dict]:
    """Parse the safetensors header ourselves: ``(tensor entries, metadata)``."""
    if len(data) < 8:
        raise InrFileError("file is too short to be a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length < 2 or length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise InrFileError(f"safetensors header length {length} does not fit the file ({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InrFileError("safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise InrFileError("safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InrFileError("not an inr file: safetensors metadata is missing or not strings")
    return header, metadata


@dataclass
class Header:
    """A file's metadata, parsed and checked: everything but the weights."""

    entries: dict
    """The safetensors header's tensor entries (name → dtype, shape, offsets)."""
    modality: str
    arch: str
    dtype: str
    config: object
    """The architecture's config dataclass (:mod:`inrcli.models.config`)."""
    signal: SignalDescription
    training: dict
    size_bytes: int
    coding: tuple[int, dict, tuple[str, ...]] | None = None
    """Coded weights (format 4 and 5): the bit width, each coded tensor's grid and the names of
    those stored as float32; None for float weights."""

    @property
    def bits(self) -> int:
        return self.coding[0] if self.coding is not None else (16 if self.dtype == "float16" else 32)


def parse_header(data: bytes) -> Header:
    """Read and check a file's metadata without touching its weights (and without torch)."""
    entries, meta = read_header(data)
    fields = metadata_fields(meta)
    from inrcli.signals import KINDS, signal_kind

    if fields.get("kind") not in KINDS:
        raise InrFileError(f"unknown signal kind {fields.get('kind')!r}")
    if fields.get("dtype") not in STORAGE_DTYPES:
        raise InrFileError(f"unknown storage dtype {fields.get('dtype')!r}")
    config = config_class(fields.get("arch", ""), from_file=True).from_dict(_json(fields, "model"))
    signal = SignalDescription.from_dict(_json(fields, "signal"))
    training = _json(fields, "training")
    if not isinstance(training, dict):
        raise InrFileError("training record is not an object")
    kind = signal_kind(fields["kind"])
    kind.check_info(signal.info)
    _check_consistency(kind, config, signal)
    weights = {name: entry for name, entry in entries.items() if not name.startswith(AUX_PREFIX)}
    coding = None
    if parse_version(fields["version"])[0] >= CODED_MAJOR and "coding" in fields:
        coding = coded.parse_metadata(fields["coding"])
    return Header(weights, fields["kind"], fields["arch"], fields["dtype"], config, signal, training, len(data),
                  coding)


def metadata_fields(meta: dict[str, str]) -> dict[str, str]:
    """The file's fields by their names in the current version (``kind``, ``model``, …), from a
    file of any version this reader knows; other tools' keys and unknown ``inr.*`` keys (a later
    minor version's additions) are left out."""
    if KEY_PREFIX + "version" in meta:
        major, _ = parse_version(meta[KEY_PREFIX + "version"])
        if major > FORMAT_VERSION[0]:
            raise InrFileError(f"file has format version {meta[KEY_PREFIX + 'version']}; this inr reads versions 1 "
                               f"to {FORMAT_VERSION[0]}.x: upgrade inrcli")
        return {key[len(KEY_PREFIX):]: value for key, value in meta.items() if key.startswith(KEY_PREFIX)}
    if meta.get("format") == "inr":  # version 1: bare keys, an integer version
        if meta.get("version") != "1":
            raise InrFileError(f"file has format version {meta.get('version')!r}; this inr reads versions 1 "
                               f"to {FORMAT_VERSION[0]}.x: upgrade inrcli")
        return {field: meta[key] for field, key in V1_KEYS.items() if key in meta} | {"version": "1.0"}
    raise InrFileError("not an inr file: metadata has no 'inr.version'")


def parse_version(text: str) -> tuple[int, int]:
    """``"MAJOR.MINOR"`` → (major, minor)."""
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit() and len(text) <= 12):
        raise InrFileError(f"format version {text!r} is not MAJOR.MINOR")
    return int(major), int(minor)


def from_bytes(data: bytes) -> InrFile:
    """A validated model and its description from a file's bytes."""
    import torch
    from safetensors.torch import load as load_tensors

    from inrcli.signals import signal_kind

    head = parse_header(data)
    cls = model_class(head.arch, from_file=True)
    with torch.device("meta"):
        skeleton = cls(head.config)  # shapes only: no memory is allocated for a file's claims
    storage = STORAGE_DTYPES[head.dtype]
    shapes = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    extras_expected = signal_kind(head.modality).expected_extras(head.signal.info, head.signal.channels)
    coding = None
    if head.coding is not None:
        tensors, extras, coding = _load_coded(data, head, skeleton, extras_expected)
    else:
        _check_tensor_entries(head.entries, {name: (shape, storage) for name, shape in shapes.items()} | extras_expected)
        tensors = _load_tensors(data, load_tensors)
        extras = {name: tensors.pop(name).numpy() for name in extras_expected}
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise InrFileError(f"weight {name!r} holds NaN or infinite values")
        if tensor.numel() and tensor.abs().max() > MAX_WEIGHT:
            raise InrFileError(f"weight {name!r} holds implausible values (|w| > {MAX_WEIGHT:g})")
    _check_extras(extras, signal_kind(head.modality).index_limit(head.signal))
    model = cls(head.config)
    model.load_state_dict({name: t.float() for name, t in tensors.items()}, strict=True)
    model.eval()
    return InrFile(model, head.modality, head.signal, head.training, head.dtype, len(data), extras, coding=coding)


def _load_tensors(data: bytes, loader) -> dict:
    """Every tensor of the file by ``loader`` (safetensors' torch or numpy ``load``), less ``aux.*``."""
    try:
        tensors = loader(data)
    except Exception as exc:  # the safetensors parser rejects bad offsets and sizes
        raise InrFileError(f"tensor data is corrupt ({exc})") from None
    for name in [n for n in tensors if n.startswith(AUX_PREFIX)]:
        del tensors[name]  # a later minor version's addition: not needed to decode
    return tensors


def _load_coded(data: bytes, head: Header, skeleton, extras_expected: dict) -> tuple[dict, dict, Coding]:
    """A coded file's weights (name → float32 tensor), extras and coding. The coded bytes are
    decoded into the shapes of ``skeleton`` (a model on the meta device), never into sizes the
    bytes claim; a header claiming far more weights than its bytes could hold is refused first."""
    import torch
    from safetensors.numpy import load as load_arrays

    bits, grids, floats = head.coding
    shapes = {name: tuple(t.shape) for name, t in skeleton.state_dict().items()}
    coded.check_names(grids, floats, list(shapes))
    is_local = local_tensor_test(skeleton)
    slots = next((shapes[name][0] for name in shapes if is_local(name)), None)
    float_shapes = {name: shapes[name] for name in floats}
    _check_tensor_entries(head.entries, coded.expected_entries(grids, slots, float_shapes) | extras_expected)
    coded_bytes = sum(int(np.prod(head.entries[name]["shape"])) for name in (coded.SHARED, coded.LOCAL)
                      if name in head.entries)
    coded.check_claim(sum(int(np.prod(shapes[name])) for name in grids), coded_bytes)
    arrays = _load_tensors(data, load_arrays)
    extras = {name: arrays.pop(name) for name in extras_expected}
    coding = Coding(bits, grids, coded.priors_from(arrays[coded.PRIOR], grids), floats)
    state = coding.unpack(arrays, shapes, is_local)
    return {name: torch.from_numpy(values) for name, values in state.items()}, extras, coding


def describe(modality: str, arch: str, dtype: str, config, signal: SignalDescription, training: dict,
             size_bytes: int, bits: int = 32) -> dict:
    """Everything ``inr info`` shows about a file, as plain data (from its config: no weights).
    ``bpp``: the file's bits per sample of the window it covers (pixel, audio sample, video voxel…)."""
    counts = config.param_count()
    result = {
        "modality": modality, "arch": arch, "dtype": dtype, "bits": bits,
        "bpp": round(8 * size_bytes / math.prod(signal.shape), 6),
        "shape": list(signal.shape), "full_shape": list(signal.full_shape),
        "window": [list(w) for w in signal.window], "channels": signal.channels,
        "params": counts["total"], "param_counts": counts, "file_bytes": size_bytes,
        "signal_info": signal.info, "training": training, "config": config.to_dict(),
    }
    partitioning = config.partitioning
    if partitioning is not None:
        result |= {"partitions": list(partitioning.grid), "kept": [list(k) for k in partitioning.kept],
                   "cropped": partitioning.is_cropped}
        del result["config"]["partitioning"]
    else:
        result["partitions"] = None
    return result


def read_source(source: str) -> tuple[str, bytes]:
    """The bytes of an INR file named by the user (or ``-``), and the name to put in errors.

    Refuses another kind of file by its first bytes, and files larger than any inr writes."""
    name = "stdin" if source == STDIO else source
    with input_path(source, "safetensors") as path:
        from inrcli.signals import sniff

        kind = sniff(read_head(path))
        if kind not in (None, "safetensors"):
            raise InrFileError(f"{name} is a {kind} file, not an INR file (.safetensors made by inr encode)")
        return name, _read_bounded(Path(path), name)


def load_source(source: str) -> InrFile:
    """Read and validate the INR file ``source``; errors name it."""
    name, data = read_source(source)
    try:
        return from_bytes(data)
    except InrFileError as exc:
        raise InrFileError(f"{name}: {exc}") from None


def describe_source(source: str) -> dict:
    """:func:`describe` of the INR file ``source`` from its header alone: weights are not read,
    and torch is not imported."""
    name, data = read_source(source)
    try:
        head = parse_header(data)
    except InrFileError as exc:
        raise InrFileError(f"{name}: {exc}") from None
    return describe(head.modality, head.arch, head.dtype, head.config, head.signal, head.training, head.size_bytes,
                    head.bits)


def _json(meta: dict, key: str):
    if key not in meta:
        raise InrFileError(f"metadata lacks {KEY_PREFIX + key!r}")
    try:
        return json.loads(meta[key])
    except ValueError:
        raise InrFileError(f"metadata {KEY_PREFIX + key!r} is not valid JSON") from None


def _check_consistency(kind, config, signal: SignalDescription) -> None:
    """The model's config, the signal's kind and its description agree on dimensions, channels and window."""
    dims = kind.coordinate_dims(signal.info)
    if config.in_dim != dims or len(signal.full_shape) != kind.axes:
        raise InrFileError(f"a {kind.name} needs {dims} coordinate dimensions")
    if config.out_dim != signal.channels:
        raise InrFileError("model outputs do not match the signal's channels")
    check_description = getattr(config, "check_description", None)
    if check_description is not None:  # architectures that keep their own facts in the description (a set's names)
        check_description(signal.info)
    partitioning = config.partitioning
    if partitioning is None:
        if signal.window != tuple((0, n) for n in signal.full_shape):
            raise InrFileError("an uncroppable model cannot describe a cropped window")
    elif partitioning.full_shape != signal.full_shape or partitioning.window != signal.window:
        raise InrFileError("partition grid does not match the signal's shape and window")


def _check_extras(extras: dict, nodes: int) -> None:
    """Stored arrays beside the weights: finite coordinates, indices below ``nodes``."""
    for name, array in extras.items():
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            raise InrFileError(f"{name!r} holds NaN or infinite values")
        if np.issubdtype(array.dtype, np.integer) and array.size and (array.min() < 0 or array.max() >= nodes):
            raise InrFileError(f"{name!r} indexes nodes that do not exist")


def _check_tensor_entries(header: dict, expected: dict[str, tuple[tuple[int, ...], str]]) -> None:
    names = set(header)
    if names != set(expected):
        missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
        raise InrFileError(f"tensors do not match the model (missing: {missing[:3]}, unexpected: {extra[:3]})")
    for name, (shape, dtype) in expected.items():
        entry = header[name]
        if not isinstance(entry, dict) or entry.get("dtype") != dtype:
            raise InrFileError(f"tensor {name!r} is not stored as {dtype}")
        stored = entry.get("shape")
        if shape is None and isinstance(stored, list) and len(stored) == 1 and isinstance(stored[0], int):
            continue  # coded bytes: one dimension, any length (what they decode to is checked)
        if not isinstance(stored, list) or tuple(stored) != shape:
            wanted = "one dimension" if shape is None else list(shape)  # coded bytes: any length
            raise InrFileError(f"tensor {name!r} has shape {stored}, expected {wanted}")
