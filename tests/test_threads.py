"""The thread policy: explicit settings win, otherwise the usable idle cores shared among workers."""

import os

import pytest

from inrcli.errors import UsageError
from inrcli.threads import choose_threads, idle_cores, usable_cores


@pytest.fixture(autouse=True)
def no_thread_settings(monkeypatch):
    monkeypatch.delenv("INR_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_explicit_settings_win_in_order(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads() == 3
    monkeypatch.setenv("INR_THREADS", "5")
    assert choose_threads() == 5
    assert choose_threads(requested=2) == 2
    assert choose_threads(requested=2, workers=4) == 2  # an explicit count is per process


def test_bad_settings_are_usage_errors(monkeypatch):
    with pytest.raises(UsageError, match="--threads"):
        choose_threads(requested=0)
    monkeypatch.setenv("INR_THREADS", "many")
    with pytest.raises(UsageError, match="INR_THREADS"):
        choose_threads()


def test_the_default_shares_the_usable_cores_among_the_workers():
    cores = usable_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    assert 1 <= choose_threads() <= cores
    assert choose_threads(workers=cores * 4) == 1
    assert 1 <= idle_cores(cores) <= cores
