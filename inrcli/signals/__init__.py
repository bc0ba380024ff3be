"""Signal registry: file endings → modality; each modality module reads and writes its files.

Adding a format is one line in ``EXTENSIONS`` (and, for a new kind of signal, one module
with a ``Modality`` subclass plus one line in ``MODALITIES``).  Modules are imported lazily.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from inrcli.errors import SignalReadError, UsageError
from inrcli.files import extension_of, input_path, read_head
from inrcli.signals.base import Modality, Signal

MODALITIES = {
    "image": "inrcli.signals.image:ImageModality",
    "audio": "inrcli.signals.audio:AudioModality",
    "video": "inrcli.signals.video:VideoModality",
    "shape": "inrcli.signals.shape:ShapeModality",
    "graph": "inrcli.signals.graph:GraphModality",
}

EXTENSIONS = {
    "png": "image", "jpg": "image", "jpeg": "image", "tif": "image", "tiff": "image", "bmp": "image",
    "webp": "image",
    "wav": "audio", "flac": "audio", "ogg": "audio",
    "mp4": "video", "m4v": "video", "mov": "video", "webm": "video", "mkv": "video", "avi": "video", "gif": "video",
    "obj": "shape", "ply": "shape", "stl": "shape", "off": "shape", "glb": "shape", "npy": "shape",
    "npz": "graph",
}

# What a decode writes when -o is not given.
DEFAULT_OUTPUT = {"image": "png", "audio": "wav", "video": "mp4", "shape": "ply", "graph": "npz"}
# Formats a modality also reads (when asked with --modality) and writes, beside its own.
ALSO_HANDLES = {"graph": {"ply", "obj", "off", "glb"}}

INR_EXTENSIONS = ("safetensors", "inr")

# Leading bytes → format, for stdin and files whose name says nothing.
MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),
    (b"BM", "bmp"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"GIF8", "gif"), (b"\x1aE\xdf\xa3", "mkv"),
    (b"ply\n", "ply"), (b"ply\r\n", "ply"), (b"glTF", "glb"), (b"OFF", "off"), (b"solid", "stl"),
]
RIFF_KINDS = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}


@cache
def modality(name: str) -> Modality:
    """The modality registered as ``name``."""
    try:
        module_name, class_name = MODALITIES[name].split(":")
    except KeyError:
        raise UsageError(f"unknown modality {name!r}") from None
    return getattr(importlib.import_module(module_name), class_name)()


def modality_for(ext: str) -> Modality:
    try:
        return modality(EXTENSIONS[ext])
    except KeyError:
        known = ", ".join(sorted(EXTENSIONS))
        raise UsageError(f"unsupported format {ext!r} (supported: {known})") from None


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
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    return None


def resolve_format(path: Path, name: str, fmt: str | None) -> str:
    """The format to read ``path`` as: ``--format``, else the file ending, else the bytes."""
    if fmt:
        return fmt.lower().lstrip(".")
    ext = extension_of(name)
    if ext in EXTENSIONS or ext in INR_EXTENSIONS:
        return ext
    sniffed = sniff(read_head(path))
    if sniffed is None:
        raise SignalReadError(f"{name}: cannot tell the format; name it with --format")
    return sniffed


def read_signal(source: str, fmt: str | None = None, as_modality: str | None = None) -> Signal:
    """Read a signal file (or ``-`` for stdin, or a folder of numbered frames) into a :class:`Signal`.

    ``as_modality`` reads a file as another kind of signal where that makes sense (a mesh
    whose vertices carry values, read as a ``graph``).
    """
    if source != "-" and Path(source).is_dir():
        return modality("video").read(Path(source), "frames")
    with input_path(source, fmt or extension_of(source)) as path:
        ext = resolve_format(path, source, fmt)
        if as_modality is not None and as_modality != modality_for(ext).name:
            if ext not in ALSO_HANDLES.get(as_modality, ()):
                raise UsageError(f"a .{ext} file cannot be read as {as_modality}")
            return modality(as_modality).read(path, ext)
        return modality_for(ext).read(path, ext)


def writer_for(modality_name: str, ext: str) -> Modality:
    """The modality that writes ``modality_name`` data as ``.ext``, or a usage error."""
    if ext in ALSO_HANDLES.get(modality_name, ()):
        return modality(modality_name)
    target = modality_for(ext)
    if target.name != modality_name:
        raise UsageError(f"cannot write {modality_name} data as .{ext} (a {target.name} format)")
    return target


def write_signal(signal: Signal, path: Path, ext: str, options: dict) -> None:
    """Write ``signal`` to ``path`` in format ``ext``."""
    writer_for(signal.modality, ext).write(signal, path, ext, options)
