"""Running one function over many arguments in local worker processes that may die.

A worker can die outside Python's reach (the kernel's out-of-memory killer, a crash in a native
library, a signal from someone else).  ``multiprocessing.Pool`` then waits forever for the lost
task; a :class:`~concurrent.futures.ProcessPoolExecutor` instead fails every unfinished task
with ``BrokenProcessPool``, so the run can go on in a fresh pool.  To tell the argument that
was running when a worker died from those merely queued behind it, every worker marks the
arguments it starts in shared memory (a byte each: no lock a dying worker could hold): only
those started and unfinished take the blame (with any others the dying pool took down).  An argument
blamed twice is given up with ``lost(argument, reason)`` as its result; everything else is
tried again, so a worker lost once (say, to a memory spike of the whole machine) costs only
time.  Workers ignore Ctrl-C (the parent decides) and turn SIGTERM into the usual clean
interrupt, so an interrupted run leaves no temporary files.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from inrcli.errors import Terminated

STRIKES = 2  # deaths an argument may be running at before it is given up


def in_workers(function: Callable, arguments: list, workers: int, threads: int,
               lost: Callable[[object, str], object]) -> Iterator:
    """``function(a)`` for every ``a`` of ``arguments``, as each finishes: in this process when
    ``workers`` is 1 (no second start-up of torch), else in that many worker processes of
    ``threads`` threads.  Where workers died running ``a`` twice, ``lost(a, reason)`` stands in
    for its result.  ``function`` must be importable by name (workers are spawned)."""
    if workers <= 1:
        from inrcli.threads import apply_threads

        apply_threads(threads)
        for argument in arguments:
            yield function(argument)
        return
    context = multiprocessing.get_context("spawn")  # not fork: a forked torch can hang in its thread pools
    started = context.RawArray("b", len(arguments))
    pending = dict(enumerate(arguments))
    strikes = dict.fromkeys(pending, 0)
    idle_deaths = 0
    while pending:
        for index in pending:
            started[index] = 0
        executor = ProcessPoolExecutor(min(workers, len(pending)), context, initializer=_start_worker,
                                       initargs=(threads, started))
        broken = yield from _one_pool(executor, function, pending)
        blamed = [index for index in pending if started[index]] if broken else []
        idle_deaths += broken and not blamed
        for index in blamed:
            strikes[index] += 1
            if strikes[index] >= STRIKES:
                yield lost(pending.pop(index), f"the worker process died while working on it, {STRIKES} times "
                                               f"(out of memory, or a crash in a native library)")
        if idle_deaths >= STRIKES:  # workers that die before they take any work will not do better
            for index in list(pending):
                yield lost(pending.pop(index), "the worker processes died before they took any work")


def _one_pool(executor: ProcessPoolExecutor, function: Callable, pending: dict):
    """Run ``pending`` (index → argument) in ``executor``, yielding results and removing the
    finished from ``pending``; returns whether a worker died (which ends the pool)."""
    futures = {executor.submit(_tracked, function, index, argument): index for index, argument in pending.items()}
    broken = False
    try:
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                del pending[futures[future]]
                yield result
        executor.shutdown(wait=True)
        return broken
    finally:
        _stop(executor)


def _start_worker(threads: int, started) -> None:
    from inrcli.threads import apply_threads

    global _STARTED
    _STARTED = started
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    apply_threads(threads)


_STARTED = None  # in a worker: the shared flags it marks the arguments it starts in
_BUSY = False  # in a worker: whether it is running an argument


def _tracked(function: Callable, index: int, argument):
    global _BUSY
    _STARTED[index] = 1
    _BUSY = True
    try:
        return function(argument)
    finally:
        _BUSY = False


def _terminate(signum, frame):
    """SIGTERM in a worker: at work, the usual clean interrupt (temporary files removed on the
    way out); idle, a quiet exit (no traceback from the executor's loop)."""
    if _BUSY:
        raise Terminated
    raise SystemExit(0)


def _stop(executor: ProcessPoolExecutor) -> None:
    """End the pool after an interrupt: live workers get SIGTERM, which they turn into a clean
    exit.  (After a normal end they have left already.)  ``_processes`` is the executor's own
    table of its workers: Python 3.14's ``terminate_workers`` is the public form of this."""
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
