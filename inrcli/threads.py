"""How many threads a process should compute with, on a machine it may be sharing.

torch sizes its thread pool to every core the machine has.  On a shared machine those threads
spin and wait for each other: beside one busy process an encode ran 2.9× slower than alone, two
encodes at once 1.4× slower than one after the other (bench/RESULTS.md, "Contention").  So the
count comes from the cores *this process may use* (CPU affinity, a cgroup CPU quota), is divided
among the workers of a many-file run, and can be set outright with ``--threads``, ``INR_THREADS``
or the usual ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from inrcli.errors import UsageError

MAX_THREADS = 256


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota if one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    """Whole cores allowed by a cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` limit, if any."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return math.ceil(int(text[0]) / int(text[1]))
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return math.ceil(quota / period)
    except (OSError, ValueError):
        pass
    return None


def idle_cores(cores: int) -> int:
    """Of ``cores``, how many are not already taken by other running tasks right now.

    ``/proc/loadavg``'s fourth field counts the tasks running at this instant, this one included;
    a snapshot, not the one-minute average, because the average lags by a minute."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return cores
    return max(1, cores - max(0, running - 1))


def default_workers() -> int:
    """Worker processes for work that splits into independent parts: one per usable idle core
    (one-thread workers give more total throughput than one process of many threads)."""
    return idle_cores(usable_cores())


def choose_threads(requested: int | None = None, workers: int = 1) -> int:
    """Threads for each of ``workers`` processes: ``requested`` (``--threads``), else
    ``INR_THREADS``, else ``OMP_NUM_THREADS``, else the usable cores that are idle now, shared
    among the workers."""
    for value, source in ((requested, "--threads"), (os.environ.get("INR_THREADS"), "INR_THREADS"),
                          (os.environ.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS")):
        if value is None or value == "":
            continue
        try:
            count = int(value)
        except ValueError:
            raise UsageError(f"{source} must be a whole number, got {value!r}") from None
        if not 1 <= count <= MAX_THREADS:
            raise UsageError(f"{source} must be between 1 and {MAX_THREADS}, got {count}")
        return count
    return max(1, idle_cores(usable_cores()) // max(1, workers))


def apply_threads(count: int) -> None:
    """Make torch compute with ``count`` threads (intra-op), and no extra inter-op pool."""
    import torch

    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work; later calls keep it as it is
        pass
