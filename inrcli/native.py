"""Compiled kernels: C sources shipped in the package, built once per machine, loaded with ctypes.

torch's CPU operators run one layer at a time over all samples, so a small network's training
step streams every activation through memory (bench/RESULTS.md, "A fused training step").  A
kernel that keeps a tile of samples in cache from the forward pass to the backward pass needs
code of its own.  It is built here with the machine's C compiler (``$CC``, else ``cc``) for this
very CPU (``-march=native``), on first use,
into a per-user cache keyed by the source, the compiler and the CPU, so a cache shared by
machines of different kinds keeps one build per kind.  Several processes may build at once:
each writes its own temporary file and renames it into place.

Where there is no compiler, the machine is not Linux on x86-64 (the only kind built and
tested), or the build fails, :func:`library` returns None and callers use their torch code;
:func:`status` says why.  ``INR_NATIVE=0`` turns the kernels off; ``INR_CACHE_DIR`` moves the
cache.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COMPILE_FLAGS = ("-O3", "-march=native", "-mprefer-vector-width=512", "-ffast-math", "-fPIC", "-std=c11")
"""-ffast-math lets sums over samples vectorise (in another order).  It is given to the compiler
only: a -ffast-math link adds crtfastmath.o, which turns on flush-to-zero for the whole process."""
LINK_FLAGS = ("-shared", "-lm")
BUILD_SECONDS = 300

_loaded: dict[str, ctypes.CDLL | None] = {}
_reasons: dict[str, str] = {}


def library(source: Path) -> ctypes.CDLL | None:
    """The compiled ``source`` (a C file), built if this machine has no build of it yet; None
    (and :func:`status` says why) where it cannot be had."""
    key = str(source)
    if key not in _loaded:
        try:
            _loaded[key] = _load(source)
            _reasons[key] = "compiled"
        except _Unavailable as exc:
            _loaded[key], _reasons[key] = None, str(exc)
    return _loaded[key]


def status(source: Path) -> str:
    """``compiled``, or why ``source`` runs as torch code here (after :func:`library` was asked)."""
    return _reasons.get(str(source), "not built yet")


def disable(source: Path, reason: str) -> None:
    """Use torch code instead of ``source`` for the rest of this process (a failed self-check)."""
    _loaded[str(source)], _reasons[str(source)] = None, reason


class _Unavailable(Exception):
    pass


def _load(source: Path) -> ctypes.CDLL:
    if os.environ.get("INR_NATIVE", "1").strip().lower() in ("0", "off", "no", "false"):
        raise _Unavailable("turned off by INR_NATIVE")
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise _Unavailable(f"compiled kernels are built for Linux on x86-64, not {sys.platform} "
                           f"on {platform.machine()}")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise _Unavailable("no C compiler (set CC, or install gcc)")
    built = _cache_dir() / f"{source.stem}-{_build_key(source, compiler)}.so"
    if not built.is_file():
        _build(source, compiler, built)
    try:
        return ctypes.CDLL(str(built))
    except OSError:  # a damaged cache entry: build it again, once
        _build(source, compiler, built)
        try:
            return ctypes.CDLL(str(built))
        except OSError as exc:
            raise _Unavailable(f"cannot load {built}: {exc}") from None


def _build_key(source: Path, compiler: str) -> str:
    """What a build depends on: the source, the flags, the compiler's version, this CPU."""
    digest = hashlib.sha256(source.read_bytes())
    digest.update(repr((COMPILE_FLAGS, LINK_FLAGS)).encode())
    digest.update(_run([compiler, "--version"], "ask the compiler its version").encode())
    digest.update(_cpu_identity().encode())
    return digest.hexdigest()[:16]


def _cpu_identity() -> str:
    """The CPU's model and feature flags (what -march=native compiles for)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = ("model name", "flags")
    return "\n".join(sorted({line for line in lines if line.split(":")[0].strip() in wanted}))


def _cache_dir() -> Path:
    root = os.environ.get("INR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "inrcli")
    folder = Path(root) / "native"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except OSError as exc:
        raise _Unavailable(f"cannot create the kernel cache {folder}: {exc.strerror}") from None


def _build(source: Path, compiler: str, target: Path) -> None:
    """Compile and link ``source`` into ``target`` through a temporary file renamed into place."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as work:
        obj, lib = Path(work) / "kernel.o", Path(work) / "kernel.so"
        _run([compiler, *COMPILE_FLAGS, "-c", str(source), "-o", str(obj)], f"compile {source.name}")
        _run([compiler, str(obj), "-o", str(lib), *LINK_FLAGS], f"link {source.name}")
        os.replace(lib, target)


def _run(command: list[str], what: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _Unavailable(f"could not {what}: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise _Unavailable(f"could not {what}: {last}")
    return done.stdout
