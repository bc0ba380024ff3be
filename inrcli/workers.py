"""Running one function over many arguments in local worker processes that may die.

A worker can die outside Python's reach (the kernel's out-of-memory killer, a crash in a native
library, a signal from someone else).  ``multiprocessing.Pool`` then waits forever for the lost
task, and ``concurrent.futures.ProcessPoolExecutor`` fails every unfinished task at once, cannot
say which one was running in the worker that died, and on Python 3.11 can hang in its own
shutdown when a surviving worker swallows the SIGTERM it sends (CI saw that hang once).  So each
worker here is a plain process with its own pipe, given one argument at a time: when a worker's
process ends without an answer, the argument it held is the one to blame, exactly.  An argument
that was running when its worker died twice is given up with ``lost(argument, reason)`` as its
result; the others go on in a fresh worker, so a worker lost once (say, to a memory spike of the
whole machine) costs only time.  Workers ignore Ctrl-C (the parent decides) and turn SIGTERM
into the usual clean interrupt, so an interrupted run leaves no temporary files.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait

from inrcli.errors import Terminated

STRIKES = 2  # deaths an argument may be running at before it is given up
_READY = "ready"  # a worker's first message: started, threads set, waiting for work
_STOP_SECONDS = 30  # how long a stopping worker may take to clean up before it is killed


def in_workers(function: Callable, arguments: list, workers: int, threads: int,
               lost: Callable[[object, str], object]) -> Iterator:
    """``function(a)`` for every ``a`` of ``arguments``, as each finishes: in this process when
    ``workers`` is 1 (no second start-up of torch), else in that many worker processes of
    ``threads`` threads.  Where workers died running ``a`` twice, ``lost(a, reason)`` stands in
    for its result; an exception ``function`` raises is raised here.  ``function`` must be
    importable by name (workers are spawned)."""
    if workers <= 1:
        from inrcli.threads import apply_threads

        apply_threads(threads)
        for argument in arguments:
            yield function(argument)
        return
    crew = _Crew(function, threads, min(workers, len(arguments)))
    try:
        yield from crew.run(list(arguments), lost)
    finally:
        crew.stop()


class _Worker:
    """One spawned worker process and the parent's end of its pipe."""

    def __init__(self, context, function: Callable, threads: int):
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end, function, threads))
        self.process.start()
        child_end.close()  # the parent keeps only its own end: the child's death then reads as EOF
        self.ready = False
        self.task: tuple[int, object] | None = None  # (index, argument) it is working on

    def give(self, task: tuple[int, object]) -> bool:
        """Hand ``task`` over; False when the worker is already gone."""
        try:
            self.connection.send(task)
        except OSError:
            return False
        self.task = task
        return True


class _Crew:
    """Up to ``size`` workers, replaced as they die, fed one argument at a time."""

    def __init__(self, function: Callable, threads: int, size: int):
        self.context = multiprocessing.get_context("spawn")  # not fork: a forked torch can hang in its thread pools
        self.function, self.threads, self.size = function, threads, size
        self.workers: list[_Worker] = []

    def run(self, arguments: list, lost: Callable[[object, str], object]) -> Iterator:
        waiting = deque(enumerate(arguments))
        strikes = dict.fromkeys(range(len(arguments)), 0)
        deaths_before_work = 0  # in a row: workers that cannot even start will not do better
        while waiting or any(worker.task is not None for worker in self.workers):
            busy = sum(worker.task is not None for worker in self.workers)
            while len(self.workers) < min(self.size, busy + len(waiting)):
                self.workers.append(_Worker(self.context, self.function, self.threads))
            for worker in self.workers:
                if worker.ready and worker.task is None and waiting:
                    task = waiting.popleft()
                    if not worker.give(task):  # it died: its end is noticed below
                        waiting.appendleft(task)
            for worker in self._heard_from():
                message = _receive(worker)
                if message == _READY:
                    worker.ready, deaths_before_work = True, 0
                elif message is not None:
                    worker.task = None
                    yield _unwrap(message)
                else:
                    self._bury(worker)
                    deaths_before_work += not worker.ready
                    if worker.task is not None and _strike(strikes, worker.task[0]):
                        yield lost(worker.task[1], f"the worker process died while working on it, {STRIKES} "
                                                   f"times (out of memory, or a crash in a native library)")
                    elif worker.task is not None:
                        waiting.appendleft(worker.task)
            if deaths_before_work >= STRIKES:
                while waiting:
                    yield lost(waiting.popleft()[1], "the worker processes died before they took any work")

    def _heard_from(self) -> list[_Worker]:
        """The workers with a message or an end to read, once at least one has."""
        ends = {worker.connection: worker for worker in self.workers}
        ends.update({worker.process.sentinel: worker for worker in self.workers})
        ready = wait(list(ends))
        return list(dict.fromkeys(ends[end] for end in ready))  # each once, in crew order

    def _bury(self, worker: _Worker) -> None:
        worker.process.join()
        worker.connection.close()
        self.workers.remove(worker)

    def stop(self) -> None:
        """End every worker: idle ones are told to leave; busy ones (after an interrupt or an
        error) get SIGTERM, which they turn into a clean exit; ones still starting are killed, as
        they hold no work (and an interrupt inside torch's import can leave a process that never
        exits).  Any still there after ``_STOP_SECONDS`` are killed, so this never waits forever."""
        for worker in self.workers:
            if not worker.ready:
                worker.process.kill()
            elif worker.task is None:
                worker.give(None)
            else:
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        self.workers = []


def _strike(strikes: dict, index: int) -> bool:
    """Count one more death at the argument ``index``; True when it has had its last chance."""
    strikes[index] += 1
    return strikes[index] >= STRIKES


def _receive(worker: _Worker):
    """The worker's next message, or None when it has ended: its pipe reads as closed, or it
    woke the wait through its process sentinel with nothing to read."""
    try:
        return worker.connection.recv() if worker.connection.poll() else None
    except (EOFError, OSError):
        return None


def _unwrap(message: tuple):
    kind, payload = message
    if kind == "raised":
        raise payload
    return payload


def _serve(connection, function: Callable, threads: int) -> None:
    """A worker's life: set threads, say it is ready, then run each argument it is sent until it
    is sent None.  SIGTERM ends it through :class:`Terminated` (work unwinds, temporary files
    go); nothing here swallows that, so it always leaves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from inrcli.threads import apply_threads

        apply_threads(threads)
        connection.send(_READY)
        while (task := connection.recv()) is not None:
            _send_answer(connection, function, task[1])
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass  # told to stop, or the parent has gone: leave quietly
    # Leave without the interpreter's finalisation: the work's own clean-up has run, and
    # torch's teardown after an interrupt is the one place a leaving worker could still hang.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _send_answer(connection, function: Callable, argument) -> None:
    """Send ``("value", function(argument))`` or ``("raised", exception)``; a value or exception
    that cannot be pickled is sent as a RuntimeError saying so (``send`` pickles before it writes,
    so a failed attempt leaves the pipe clean)."""
    try:
        message = ("value", function(argument))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 — handed to the parent, which raises it
        message = ("raised", exc)
    try:
        connection.send(message)
    except (pickle.PicklingError, AttributeError, TypeError, RecursionError) as exc:  # not OSError: a gone parent ends the worker
        connection.send(("raised", RuntimeError(f"a worker's answer could not be sent back: {exc}")))


def _terminate(signum, frame):
    raise Terminated
