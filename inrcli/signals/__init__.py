"""The registry of signal kinds and file formats, as plain data.

* ``KINDS``: kind name → ``"module:Class"``, imported on first use.
* ``READERS``: file ending → kinds that read it, in order.  A kind's reader that finds the file is
  not for it raises :class:`NotMyFile` and the next one tries (a single-page TIFF is an image, a
  multi-page one a volume).  ``--modality NAME`` picks one of the listed kinds directly (a PLY
  whose vertices carry values, read as a graph).  ``"folder"`` names what reads a directory.
* ``WRITERS``: file ending → kinds that write it; a signal is written by its own kind.

Adding a format is one line in each table; adding a kind is one module with a
:class:`SignalKind` subclass plus one line in ``KINDS`` (and its endings here).
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

from inrcli.errors import SignalReadError, UsageError
from inrcli.files import atomic_output, check_target, extension_of, input_path, read_head
from inrcli.signals.base import DecodePlan, NotMyFile, Signal, SignalKind

KINDS = {
    "image": "inrcli.signals.image:ImageKind",
    "audio": "inrcli.signals.audio:AudioKind",
    "video": "inrcli.signals.video:VideoKind",
    "shape": "inrcli.signals.shape:ShapeKind",
    "graph": "inrcli.signals.graph:GraphKind",
    "volume": "inrcli.signals.volume:VolumeKind",
}

_IMAGE = ("png", "jpg", "jpeg", "bmp", "webp")
_AUDIO = ("wav", "flac", "ogg")
_VIDEO = ("mp4", "m4v", "mov", "webm", "mkv", "avi", "gif")
_MESH = ("obj", "ply", "stl", "off", "glb")

READERS: dict[str, tuple[str, ...]] = {
    **{ext: ("image",) for ext in _IMAGE},
    "tif": ("image", "volume"), "tiff": ("image", "volume"),
    **{ext: ("audio",) for ext in _AUDIO},
    **{ext: ("video",) for ext in _VIDEO},
    **{ext: ("shape", "graph") for ext in _MESH},
    "npz": ("graph",),
    "npy": ("volume",),
    "nii": ("volume",), "nii.gz": ("volume",),
    "folder": ("video",),
}

WRITERS: dict[str, tuple[str, ...]] = {
    **{ext: ("image",) for ext in _IMAGE},
    "tif": ("image", "volume"), "tiff": ("image", "volume"),
    **{ext: ("audio",) for ext in _AUDIO},
    **{ext: ("video",) for ext in _VIDEO},
    **{ext: ("shape", "graph") for ext in _MESH},
    "npz": ("graph",),
    "npy": ("shape", "volume"),
    "nii": ("volume",), "nii.gz": ("volume",),
}

INR_EXTENSIONS = ("safetensors", "inr")

# Leading bytes → format, for stdin and files whose name says nothing.
MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),
    (b"BM", "bmp"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"GIF8", "gif"), (b"\x1aE\xdf\xa3", "mkv"),
    (b"ply\n", "ply"), (b"ply\r\n", "ply"), (b"glTF", "glb"), (b"OFF", "off"), (b"solid", "stl"),
    (b"\x93NUMPY", "npy"), (b"\x1f\x8b", "nii.gz"),
]
RIFF_KINDS = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}


@cache
def signal_kind(name: str) -> SignalKind:
    """The kind registered as ``name``."""
    try:
        module_name, class_name = KINDS[name].split(":")
    except KeyError:
        raise UsageError(f"unknown kind of signal {name!r} (known: {', '.join(KINDS)})") from None
    return getattr(importlib.import_module(module_name), class_name)()


def format_of(name: str) -> str:
    """The registered ending of a file name, two-part endings included (``scan.nii.gz``)."""
    lower = name.lower()
    for ext in sorted((e for e in READERS if "." in e), key=len, reverse=True):
        if lower.endswith("." + ext):
            return ext
    return extension_of(name)


def sniff(head: bytes) -> str | None:
    """Format of a file from its first bytes, or None."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] in RIFF_KINDS:
        return RIFF_KINDS[head[8:12]]
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    for magic, ext in MAGIC:
        if head.startswith(magic):
            return ext
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if len(head) > 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nii"
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    return None


def resolve_format(path: Path, name: str, fmt: str | None) -> str:
    """The format to read ``path`` as: ``--format``, else the file ending, else the bytes."""
    if fmt:
        return fmt.lower().lstrip(".")
    ext = format_of(name)
    if ext in READERS or ext in INR_EXTENSIONS:
        return ext
    sniffed = sniff(read_head(path, 352))
    if sniffed is None:
        raise SignalReadError(f"{name}: cannot tell the format; name it with --format")
    return sniffed


def _readers(ext: str, as_kind: str | None) -> tuple[str, ...]:
    if ext not in READERS:
        known = ", ".join(sorted(e for e in READERS if e != "folder"))
        raise UsageError(f"unsupported format {ext!r} (supported: {known})")
    if as_kind is None:
        return READERS[ext]
    signal_kind(as_kind)  # an unknown name is a usage error of its own
    if as_kind not in READERS[ext]:
        raise UsageError(f"a .{ext} file cannot be read as {as_kind}")
    return (as_kind,)


def read_signal(source: str, fmt: str | None = None, as_kind: str | None = None) -> Signal:
    """Read a signal file (or ``-`` for stdin, or a folder of numbered frames) into a :class:`Signal`.

    ``as_kind`` reads a file as another kind of signal where that makes sense (a mesh whose
    vertices carry values, read as a ``graph``).
    """
    if source != "-" and Path(source).is_dir():
        return _read_with(_readers("folder", as_kind), Path(source), "folder")
    with input_path(source, fmt or format_of(source)) as path:
        ext = resolve_format(path, source, fmt)
        return _read_with(_readers(ext, as_kind), path, ext)


def _read_with(kinds: tuple[str, ...], path: Path, ext: str) -> Signal:
    """The first reader that takes the file; the last refusal's message if none does."""
    refusal = None
    for name in kinds:
        try:
            return signal_kind(name).read(path, ext)
        except NotMyFile as exc:
            refusal = exc
    raise SignalReadError(str(refusal))


def writer_for(kind_name: str, ext: str) -> SignalKind:
    """The kind that writes ``kind_name`` data as ``.ext``, or a usage error."""
    if ext not in WRITERS:
        known = ", ".join(sorted(WRITERS))
        raise UsageError(f"unsupported format {ext!r} (supported: {known})")
    if kind_name not in WRITERS[ext]:
        raise UsageError(f"cannot write {kind_name} data as .{ext} (a {' or '.join(WRITERS[ext])} format)")
    return signal_kind(kind_name)


def write_signal(signal: Signal, path: Path, ext: str, options: dict) -> None:
    """Write ``signal`` to ``path`` in format ``ext``."""
    writer_for(signal.modality, ext).write(signal, path, ext, options)


def sequence_kind(kind_name: str) -> str | None:
    """The kind whose frames are signals of ``kind_name`` (video for images), or None."""
    return next((name for name in KINDS if signal_kind(name).frame_kind == kind_name and name != kind_name), None)


def is_frame_pattern(target: str) -> bool:
    """Whether an output name is a printf-style pattern such as ``frames/%04d.png``."""
    return re.search(r"%0?\d*d", target) is not None


def output_format(kind_name: str, target: str, fmt: str | None) -> str:
    """The format a decode of ``kind_name`` writes to ``target``; refused before any work."""
    ext = (fmt or format_of(target) or "").lower().lstrip(".")
    if not ext:
        raise UsageError(f"cannot tell the output format of {target!r}; use --format")
    frame_kind = signal_kind(kind_name).frame_kind
    if frame_kind is not None and is_frame_pattern(target):
        if ext not in WRITERS or frame_kind not in WRITERS[ext]:
            known = ", ".join(sorted(e for e, kinds in WRITERS.items() if frame_kind in kinds))
            raise UsageError(f"frame pattern {target!r} needs an {frame_kind} extension ({known})")
        return ext
    writer_for(kind_name, ext)
    return ext


def writes_frames(kind_name: str, target: str) -> bool:
    """Whether a decode of ``kind_name`` to ``target`` writes numbered frames."""
    return signal_kind(kind_name).frame_kind is not None and is_frame_pattern(target)


def check_write_options(options: dict) -> None:
    """Refuse writer options out of range before any work is done."""
    if options.get("bit_depth") not in (None, 8, 16):
        raise UsageError("--bit-depth must be 8 or 16")
    quality = options.get("quality")
    if quality is not None and not 0 <= quality <= 100:
        raise UsageError("--quality must be between 0 and 100")


def save_signal(signal: Signal, target: str, fmt: str | None, options: dict, force: bool,
                inputs: tuple[str, ...] = ()) -> list[str]:
    """Write ``signal`` to ``target`` (a file, ``-``, or a frame pattern) through temporary files
    renamed into place; returns the names written."""
    check_write_options(options)
    ext = output_format(signal.modality, target, fmt)
    if not writes_frames(signal.modality, target):
        with atomic_output(target, force, ext, inputs) as tmp:
            write_signal(signal, tmp, ext, options)
        return [target]
    frames = signal_kind(signal.modality).frames(signal)
    names = check_outputs(signal.modality, target, len(frames), force, inputs)
    for frame, name in zip(frames, names):
        with atomic_output(name, force, ext, inputs) as tmp:
            write_signal(frame, tmp, ext, options)
    return names


def check_outputs(kind_name: str, target: str, frames: int, force: bool, inputs: tuple[str, ...] = ()) -> list[str]:
    """Refuse, before any work, outputs that could not all be written: ``target``, or each of the
    ``frames`` names a frame pattern makes (a later frame may exist; the folder may be missing)."""
    if not writes_frames(kind_name, target):
        check_target(target, force, inputs)
        return [target]
    names = [target % index for index in range(frames)]
    for index, name in enumerate(names):
        check_target(name, force, inputs, probe=index == 0)  # one directory: one probe
    return names


__all__ = ["DecodePlan", "INR_EXTENSIONS", "KINDS", "NotMyFile", "READERS", "Signal", "SignalKind", "WRITERS",
           "check_outputs", "check_write_options", "format_of", "output_format", "read_signal", "resolve_format",
           "save_signal", "sequence_kind", "signal_kind", "sniff", "write_signal", "writer_for", "writes_frames"]
