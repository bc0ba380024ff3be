"""Encoding many signal files in one command, in worker processes.

Each file is read, encoded and written by itself: a failure is that file's result, not the
end of the run.  With several workers each is a separate process with its own few threads
(by default the usable cores shared among them), which on a shared machine gives more total
throughput than one process with many threads (bench/RESULTS.md, "Contention"); see
:mod:`inrcli.workers` for what happens when one dies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from inrcli.errors import InrError, UsageError
from inrcli.signals import READERS, format_of
from inrcli.workers import in_workers

AUTO_INPUTS = 16
"""Fewest inputs a many-file ``inr encode`` fits together without being asked (``--batch``)."""
AUTO_SAMPLES = 64 * 64
"""Most samples per signal a many-file ``inr encode`` fits together without being asked: 100
crops of 32×32 fitted together ran 2.1× the rate of ``-j 2 --no-batch``'s separate encodes, of
64×64 1.6×, and the gain shrinks as a signal's own products grow (bench/RESULTS.md, "Datasets of INRs")."""


@dataclass(frozen=True)
class EncodeJob:
    """One file of a many-file encode."""

    input: str
    output: str
    fmt: str | None = None
    as_kind: str | None = None


def plan_jobs(inputs: list[str], out_dir: str, fmt: str | None, as_kind: str | None) -> list[EncodeJob]:
    """``OUTDIR/<name>.safetensors`` for every input; refused if two inputs would share an output."""
    if "-" in inputs:
        raise UsageError("standard input (-) cannot be one of several inputs")
    folder = Path(out_dir)
    if not folder.is_dir():
        raise UsageError(f"-o {out_dir}: with several inputs, -o names an existing directory")
    jobs, seen = [], {}
    for source in inputs:
        target = output_for(folder, Path(source).name)
        if target in seen:
            raise UsageError(f"{seen[target]} and {source} would both be written to {target}")
        seen[target] = source
        jobs.append(EncodeJob(source, target, fmt, as_kind))
    return jobs


def output_for(folder: Path, name: str) -> str:
    """``folder/<name without its signal extension>.safetensors`` (``name`` may hold sub-folders)."""
    ext = format_of(name)
    stem = name[:-len(ext) - 1] if ext and name.lower().endswith("." + ext) else name
    return str(folder / f"{stem}.safetensors")


def encode_file(job: EncodeJob, options, force: bool) -> dict:
    """Read, encode and save one file; the summary ``inr encode --json`` prints for it."""
    from inrcli import api, fileformat
    from inrcli.signals import read_signal

    signal_ = read_signal(job.input, job.fmt, job.as_kind)
    inr = api.encode(signal_, options)
    size = fileformat.save_to(inr, job.output, force, (job.input,))
    return {"output": job.output, "input": job.input, **api.encode_summary(inr, size)}


def _attempt(job: EncodeJob, options, force: bool) -> dict:
    """:func:`encode_file` with its failure as the result: ``status`` is ``ok`` or ``failed``."""
    try:
        return {**encode_file(job, options, force), "status": "ok"}
    except InrError as exc:
        return failed_row(job, str(exc))
    except MemoryError:
        return failed_row(job, "out of memory")
    except Exception as exc:  # one broken file must not end the other files' run
        return failed_row(job, f"internal error: {type(exc).__name__}: {exc}")


def failed_row(job, error: str) -> dict:
    """The result of a file that could not be encoded (``job``: anything with ``input`` and
    ``output``, such as an :class:`EncodeJob` or a dataset item)."""
    return {"input": job.input, "output": job.output, "status": "failed", "error": error}


def _run_in_worker(arguments: tuple) -> dict:
    return _attempt(*arguments)


def _lost(arguments: tuple, reason: str) -> dict:
    return failed_row(arguments[0], reason)


def encode_many(jobs: list[EncodeJob], options, force: bool, workers: int, threads: int,
                on_result: Callable[[dict], None]) -> list[dict]:
    """Encode every job with ``workers`` processes of ``threads`` threads; ``on_result`` hears of
    each file as it finishes.  Returns the results in the order of ``jobs``."""
    results: dict[str, dict] = {}
    arguments = [(job, options, force) for job in jobs]
    for result in in_workers(_run_in_worker, arguments, workers, threads, _lost):
        results[result["input"]] = result
        on_result(result)
    return [results[job.input] for job in jobs]


def worth_fitting_together(inputs: list[str], options, fmt: str | None, as_kind: str | None) -> bool:
    """Whether a many-file encode of ``inputs`` should fit them together: many inputs, all of
    kinds that can be, options a batched fit honours, and the first one small.  Nothing but time
    changes: a member fitted together gets the weights its own encode would, up to the rounding
    of batched products (tests/test_dataset.py)."""
    import math

    from inrcli import api
    from inrcli.signals import read_signal, signal_kind

    if len(inputs) < AUTO_INPUTS:
        return False
    try:
        api.check_together_options(options)
    except UsageError:
        return False
    for source in inputs:
        kinds = (as_kind,) if as_kind else READERS.get(fmt or format_of(source), ())
        if not kinds or not all(signal_kind(kind).batchable for kind in kinds):
            return False
    try:
        first = read_signal(inputs[0], fmt, as_kind)
    except InrError:
        return False  # the file-by-file run reports it
    return math.prod(first.shape) <= AUTO_SAMPLES


def encode_together(jobs: list[EncodeJob], options, workers: int, threads: int | None,
                    on_result: Callable[[dict], None]) -> list[dict]:
    """Encode every job as :func:`encode_many` would, but fitting signals of one shape together
    (:func:`inrcli.dataset.run_shard`) in ``workers`` processes; ``on_result`` hears of each file
    as its group finishes.  Outputs must have been checked (they are replaced).  Returns the
    results in the order of ``jobs``."""
    from inrcli import dataset

    fmt, as_kind = jobs[0].fmt, jobs[0].as_kind
    items = [dataset.Item(job.input, job.output, replaces=Path(job.output).exists()) for job in jobs]
    settings = dataset.ShardSettings(options, fmt=fmt, as_kind=as_kind, threads=threads)
    work = dataset.shards(items, dataset.shard_size(len(items), settings.batch_size, workers))
    results: dict[str, dict] = {}

    def take(rows: list[dict]) -> None:
        for row in rows:
            results[row["input"]] = row
            on_result(row)

    dataset.run_here(work, settings, workers, take)
    return [results[job.input] for job in jobs]
