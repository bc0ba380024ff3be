"""Where bytes come from and go to: paths, stdin/stdout (``-``), temporary files, atomic renames.

Every output is written to a temporary file next to its target and renamed into place only
when complete, so an interrupted run never leaves a partial file or clobbers an existing one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inrcli.errors import OutputExistsError, SignalReadError, UsageError

STDIO = "-"


def extension_of(name: str) -> str:
    """Lower-case file ending without the dot (``"photo.PNG"`` → ``"png"``)."""
    return Path(name).suffix.lower().lstrip(".")


@contextlib.contextmanager
def input_path(source: str, suffix: str = "") -> Iterator[Path]:
    """A readable path for ``source``: the file itself, or stdin spooled to a temporary file."""
    if source == STDIO:
        data = sys.stdin.buffer.read()
        if not data:
            raise SignalReadError("standard input is empty")
        handle, name = tempfile.mkstemp(prefix="inr-stdin-", suffix=f".{suffix}" if suffix else "")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            yield Path(name)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)
        return
    path = Path(source)
    if not path.exists():
        raise SignalReadError(f"{source}: no such file")
    if path.is_dir():
        raise SignalReadError(f"{source}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise SignalReadError(f"{source}: file is empty")
    yield path


def read_head(source_path: Path, size: int = 64) -> bytes:
    with open(source_path, "rb") as handle:
        return handle.read(size)


def check_target(target: str, force: bool, inputs: tuple[str, ...] = (), probe: bool = True) -> None:
    """Refuse to write over an input, or over an existing file without ``force``; with ``probe``,
    also refuse a directory that cannot be written in (before the work, not after it)."""
    if target == STDIO:
        return
    path = Path(target)
    for source in inputs:
        if source != STDIO and Path(source).exists() and path.exists() and path.resolve() == Path(source).resolve():
            raise UsageError(f"{target}: refusing to overwrite the input; choose another -o")
    if path.is_dir():
        raise UsageError(f"{target}: is a directory; give a file name with -o")
    if path.exists() and not path.is_file():
        # --force replaces files; renaming over /dev/null or a named pipe would destroy it
        raise UsageError(f"{target}: is not a regular file (a device, pipe or socket); inr writes regular files")
    if path.exists() and not force:
        raise OutputExistsError(f"{target} exists; use --force to overwrite it")
    if not path.parent.exists():
        raise UsageError(f"{target}: directory {path.parent} does not exist")
    if probe:
        _check_writable(path.parent, target)


def _check_writable(directory: Path, target: str) -> None:
    """Create and remove a temporary file where the output will go, so that a read-only
    directory or file system, or a name too long, is found before the work, not after it."""
    try:
        handle, name = tempfile.mkstemp(prefix=".inr-probe-", dir=directory)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write in {directory}: {exc.strerror or exc}") from None
    os.close(handle)
    os.unlink(name)
    if len(Path(target).name.encode()) > 255:
        raise UsageError(f"{target}: the file name is longer than 255 bytes")


def _link_without_clobbering(name: str, target: str) -> None:
    """Move ``name`` to ``target`` unless ``target`` exists, atomically.

    A hard link fails if the target exists, so two processes racing for one output cannot
    replace each other's file (a check followed by a rename could).  File systems without
    hard links fall back to the rename after a fresh check.
    """
    try:
        os.link(name, target)
    except FileExistsError:
        raise OutputExistsError(f"{target} exists; use --force to overwrite it") from None
    except OSError:
        if Path(target).exists():
            raise OutputExistsError(f"{target} exists; use --force to overwrite it") from None
        os.replace(name, target)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(target: str, force: bool, suffix: str, inputs: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it to ``target`` (or copy it to stdout).

    The temporary file lives in the target's directory (same file system, so the rename is
    atomic) and is removed on any failure or interruption.
    """
    check_target(target, force, inputs, probe=False)  # the temporary file below proves the directory writable
    directory = None if target == STDIO else str(Path(target).resolve().parent)
    handle, name = tempfile.mkstemp(prefix=".inr-tmp-", suffix=f".{suffix}" if suffix else "", dir=directory)
    os.close(handle)
    try:
        yield Path(name)
        if target == STDIO:
            with open(name, "rb") as data:
                shutil.copyfileobj(data, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            check_target(target, force, inputs, probe=False)  # it may have appeared while we worked
            os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
            if force:
                os.replace(name, target)
            else:
                _link_without_clobbering(name, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
