"""A dataset run on many machines, on Dask's distributed scheduler (``pip install 'inrcli[cluster]'``).

Why Dask rather than Ray: ``dask`` and ``distributed`` are pure Python (2.5 MB of wheels, 2026.8.0)
over small common packages (tornado, msgpack, cloudpickle, psutil), and their scheduler and
workers are ordinary processes (``dask scheduler``; ``dask worker tcp://HOST:8786``) that HPC
sites start under SLURM or PBS (dask-jobqueue) and clouds under Kubernetes (dask-kubernetes);
Ray is a 79 MB wheel per platform and Python version (2.60.0) with its own object store and
daemons.  A dataset run needs only what both offer:
tasks, retries when a worker dies, results as they finish.

Work goes out as *shards* (:func:`inrcli.dataset.run_shard`): lists of inputs that a worker reads,
fits together and writes to OUTDIR, which must be a path every worker sees (a shared file
system).  Only this process writes the manifest, from the rows the shards return.  When a
worker dies mid-shard, the scheduler gives the shard to another worker (up to its
``allowed-failures``, 3 by default); outputs the dead worker had finished are adopted, not
written again (see :mod:`inrcli.dataset`).

Dask ships tasks to workers with pickle: a cluster is a trusted boundary, as any Dask
deployment is (docs/SECURITY.md).  Input files are still read and checked by inr's own readers.
"""

from __future__ import annotations

import ctypes
import os
import uuid
from collections.abc import Callable

from inrcli.dataset import Item, ShardSettings, failed_row, run_shard
from inrcli.errors import UsageError

LOCAL_PREFIX = "local:"
GLIBC_M_TRIM_THRESHOLD, GLIBC_M_MMAP_THRESHOLD = -1, -3
HEAP_BYTES = 32 << 20  # glibc's largest mmap threshold: a group's tensors (a few MB) stay on the heap
CONNECT_TIMEOUT = "30s"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError("--cluster needs Dask's distributed scheduler: pip install 'inrcli[cluster]'") from None
    return distributed


def run_on_cluster(address: str, work: list[list[Item]], settings: ShardSettings,
                   on_rows: Callable[[list[dict]], None]) -> None:
    """Run every shard of ``work`` on the cluster at ``address`` (``tcp://HOST:PORT`` of a Dask
    scheduler, or ``local:N`` for N worker processes on this machine); ``on_rows`` hears of each
    shard's rows as it finishes."""
    distributed = _distributed()
    cluster = None
    if address.startswith(LOCAL_PREFIX):
        cluster = _local_cluster(distributed, address)
        address = cluster.scheduler_address
    elif "://" not in address:
        raise UsageError(f"--cluster {address!r}: give a scheduler address such as tcp://HOST:8786, or local:N")
    try:
        try:
            client = distributed.Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"--cluster {address}: cannot reach the Dask scheduler ({exc})") from None
        with client:
            _submit_and_collect(distributed, client, work, settings, on_rows)
    finally:
        if cluster is not None:
            cluster.close()


def _local_cluster(distributed, address: str):
    try:
        workers = int(address[len(LOCAL_PREFIX):])
    except ValueError:
        workers = 0
    if not 1 <= workers <= 256:
        raise UsageError(f"--cluster {address!r}: local:N takes 1 to 256 workers")
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None)


def _submit_and_collect(distributed, client, work: list[list[Item]], settings: ShardSettings,
                        on_rows: Callable[[list[dict]], None]) -> None:
    threads = _threads_per_worker(client) if settings.threads is None else None
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(shard_on_worker, shard, settings, threads, key=f"inr-shard-{run}-{number}",
                             pure=False): shard for number, shard in enumerate(work)}
    for future in distributed.as_completed(futures):
        shard = futures.pop(future)
        try:
            rows = future.result()
        except distributed.KilledWorker:
            rows = [failed_row(item, "every worker that took this shard died (see the workers' logs)") for item in shard]
        except Exception as exc:  # the shard's own errors are rows; this is the machinery failing
            rows = [failed_row(item, f"the cluster could not run this shard: {type(exc).__name__}: {exc}")
                    for item in shard]
        on_rows(rows)


def _undo_trim_threshold() -> None:
    """Let this worker's glibc keep freed memory, as a plain process's does.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand memory back to the
    system), which also pins the mmap threshold: every tensor of a training step is then mapped,
    faulted in page by page and unmapped again.  Measured: two such workers spent more time in
    the kernel than in the fit and ran at half the speed of one process with both cores.
    """
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") is None:
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(GLIBC_M_MMAP_THRESHOLD, HEAP_BYTES)
        libc.mallopt(GLIBC_M_TRIM_THRESHOLD, 4 * HEAP_BYTES)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def _threads_per_worker(client) -> dict[str, int]:
    """Compute threads for each worker process: its host's usable cores shared among the host's
    workers (two workers on one machine each with every core would spin against each other)."""
    from inrcli.threads import usable_cores

    cores = client.run(usable_cores)  # worker address -> cores
    hosts: dict[str, list[str]] = {}
    for worker, info in client.scheduler_info()["workers"].items():
        hosts.setdefault(info.get("host", worker), []).append(worker)
    return {worker: max(1, cores.get(worker, 1) // len(workers)) for workers in hosts.values() for worker in workers}


def shard_on_worker(items: list[Item], settings: ShardSettings, threads: dict[str, int] | None) -> list[dict]:
    """:func:`run_shard` on a Dask worker, with ``--threads`` or else that worker's share of its
    host's cores (``threads``: worker address → count)."""
    from inrcli.threads import apply_threads

    _undo_trim_threshold()
    if threads is not None:
        from distributed import get_worker

        apply_threads(threads.get(get_worker().address, 1))
    else:
        apply_threads(settings.threads)
    return run_shard(items, settings)
