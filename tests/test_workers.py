"""Worker processes that die: the run goes on, nothing waits forever, the culprit is named."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from inrcli.workers import STRIKES, in_workers


def _square_unless_fatal(argument: tuple) -> int:
    """``n * n``; for a negative ``n`` the worker is killed outright (as the OOM killer would),
    for ``n`` 0 only the first time (a marker file in ``folder`` remembers)."""
    n, folder = argument
    if n < 0:
        os.kill(os.getpid(), signal.SIGKILL)
    marker = Path(folder) / "died-once"
    if n == 0 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n


def _slow_or_fatal(n: int) -> int:
    """``n`` after a second; ``-1`` kills its worker after a short while, every time."""
    if n < 0:
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(1.0)
    return n


def _refuse_three(n: int) -> int:
    if n == 3:
        raise ValueError("three is not welcome")
    return n


def _ours_left(before: set) -> set:
    """Worker processes still alive that were not there before (other tests' children aside)."""
    return set(multiprocessing.active_children()) - before


def _lost(argument, reason: str) -> str:
    n = argument[0] if isinstance(argument, tuple) else argument
    return f"lost {n}: {reason}"


def test_a_worker_killed_once_costs_a_retry_and_one_killed_every_time_is_given_up(tmp_path: Path):
    before = set(multiprocessing.active_children())
    arguments = [(n, str(tmp_path)) for n in (2, 0, 3, -1, 4)]
    results = list(in_workers(_square_unless_fatal, arguments, 2, 1, _lost))
    assert sorted(r for r in results if isinstance(r, int)) == [0, 4, 9, 16]  # 0 after its retry
    lost = [r for r in results if isinstance(r, str)]
    assert len(lost) == 1 and lost[0].startswith("lost -1:") and f"{STRIKES} times" in lost[0]
    assert _ours_left(before) == set()


def test_work_running_beside_a_dying_worker_is_not_blamed():
    """The innocent arguments run in the other worker while the culprit's dies, twice over."""
    results = list(in_workers(_slow_or_fatal, [1, -1, 2, 3], 2, 1, _lost))
    assert sorted(r for r in results if isinstance(r, int)) == [1, 2, 3]
    assert [r.split(":")[0] for r in results if isinstance(r, str)] == ["lost -1"]


def test_an_exception_in_a_worker_is_raised_here_and_the_workers_are_ended():
    before = set(multiprocessing.active_children())
    with pytest.raises(ValueError, match="three is not welcome"):
        list(in_workers(_refuse_three, [1, 2, 3, 4, 5], 2, 1, _lost))
    assert _ours_left(before) == set()


def test_leaving_early_ends_the_workers():
    before = set(multiprocessing.active_children())
    results = in_workers(_slow_or_fatal, [1, 2, 3, 4], 2, 1, _lost)
    assert next(results) in (1, 2)
    results.close()
    assert _ours_left(before) == set()
