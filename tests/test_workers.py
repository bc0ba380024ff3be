"""Worker processes that die: the run goes on, nothing waits forever, the culprit is named."""

from __future__ import annotations

import os
import signal
from pathlib import Path

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


def _lost(argument: tuple, reason: str) -> str:
    return f"lost {argument[0]}: {reason}"


def test_a_worker_killed_once_costs_a_retry_and_one_killed_every_time_is_given_up(tmp_path: Path):
    arguments = [(n, str(tmp_path)) for n in (2, 0, 3, -1, 4)]
    results = list(in_workers(_square_unless_fatal, arguments, 2, 1, _lost))
    assert sorted(r for r in results if isinstance(r, int)) == [0, 4, 9, 16]  # 0 after its retry
    lost = [r for r in results if isinstance(r, str)]
    assert len(lost) == 1 and lost[0].startswith("lost -1:") and f"{STRIKES} times" in lost[0]
