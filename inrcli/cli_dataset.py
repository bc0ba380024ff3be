"""What ``inr encode --batch`` (a dataset of INRs) does: plan from the flags, run the shards here,
in worker processes or on a cluster, keep the manifest, render progress (:mod:`inrcli.dataset`).

No torch at import: the library is reached lazily, so ``inr --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from inrcli import dataset
from inrcli.errors import UsageError
from inrcli.render import ItemsProgress, emit_json
from inrcli.threads import default_workers


def encode(inputs: list[str], output: str | None, settings: dataset.ShardSettings, jobs: int | None,
           manifest_path: str | None, cluster: str | None, err: Console, force: bool, quiet: bool,
           as_json: bool) -> int:
    """Encode every signal under ``inputs`` into ``output``, skipping what the manifest says is
    done; the exit code: 1 if any item failed."""
    if output is None or not Path(output).is_dir():
        raise UsageError("a dataset run (--batch, --manifest, --cluster) writes into a directory: name one with -o")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if settings.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if cluster is not None and jobs is not None and jobs > 1:
        raise UsageError("--jobs runs worker processes here; with --cluster the cluster's workers do the work")
    from inrcli import api

    api.check_together_options(settings.options)  # before reading any input
    manifest = dataset.Manifest(manifest_path or Path(output) / dataset.MANIFEST_NAME)
    items, finished = dataset.plan(inputs, output, manifest, force)
    if not quiet and finished:
        err.print(f"{finished} already done (per {manifest.path}); {len(items)} to do", markup=False)
    if not items:
        return 0
    jobs = 1 if cluster is not None else jobs or default_workers()
    work = dataset.shards(items, dataset.shard_size(len(items), settings.batch_size, jobs))
    tally = dataset.Tally()
    start = time.perf_counter()

    def take(rows: list[dict]) -> None:
        manifest.append(rows)
        tally.add(rows)
        bar.advance(len(rows))
        for row in rows:
            _report(row, err, quiet, as_json)

    with ItemsProgress(err, len(items), enabled=not quiet) as bar:
        if cluster is not None:
            from inrcli.cluster import run_on_cluster

            run_on_cluster(cluster, work, settings, take)
        else:
            dataset.run_here(work, settings, jobs, take)
    if not quiet:
        seconds = time.perf_counter() - start
        rate = f", {tally.items / seconds * 60:,.0f} items/min" if tally.items and seconds > 0 else ""
        mean = f", mean PSNR {tally.mean_psnr:.2f} dB" if tally.mean_psnr is not None else ""
        err.print(f"{tally.items - tally.failed} of {tally.items} encoded{rate}{mean}; manifest {manifest.path}",
                  markup=False)
    return 1 if tally.failed else 0


def _report(row: dict, err: Console, quiet: bool, as_json: bool) -> None:
    if as_json:
        emit_json(row)
    if row["status"] != "ok":
        err.print(f"inr: error: {row['input']}: {row['error']}", markup=False, soft_wrap=True)
