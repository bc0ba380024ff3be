"""Datasets of INRs: thousands of small signals, one ordinary INR file each.

A dataset run (``inr encode DIR -o OUTDIR --batch``) is planned here and carried out in
*shards*: lists of inputs that one worker reads, groups by shape and fits together
(:func:`inrcli.api.encode_together`), the same function whether the worker is this process, a
local process pool or a machine of a cluster (:mod:`inrcli.cluster`).  What happened to every
input is one row of a *manifest*, a JSON-lines file appended (and flushed to disk) as shards
finish, so that an interrupted run resumes by skipping the rows that are done, and a run over a
folder that has grown does only the new files.

Only the process that plans the run writes the manifest; workers write their outputs (through a
temporary file renamed into place) and return rows.  A shard that runs again because its worker
died keeps the outputs its first attempt finished: an output that appeared after the plan was
made can only be this run's (the plan refuses outputs that exist, unless ``--force`` lets it
replace them, which it records), so it is scored and adopted rather than fitted and written twice.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from inrcli.batch import failed_row, output_for
from inrcli.errors import InrError, OutputExistsError, UsageError
from inrcli.signals import READERS, format_of

MANIFEST_NAME = "manifest.jsonl"
DEFAULT_BATCH = 256
"""Most signals fitted together by default: past this a step's cost grows in proportion (no
more batching gain, bench/RESULTS.md) while a failure or an interruption loses more."""
MEMORY_SHARE = 0.5
"""Share of the memory available now that one fit's training activations may take."""
GROUP_KEPT_BYTES = 22 << 20
"""Most bytes one step of a group may keep for its backward pass (members × ``kept`` of
``api.training_footprint``).  The torch Local-Global pass keeps ~1.4 kB per sample, so a bigger
group's activations leave the caches and it runs at memory speed.  On a Xeon with 2 MB of L2 per
core (model 167, one thread, bench/RESULTS.md "Smaller groups"): 64×64 crops 2.5 ms per
member-step in groups of 4, 3.0 in groups of 16; 32×32 crops 1.03 ms in groups of 16, 1.3 in
groups of 64 — this cap gives those groups of 4 and 16.  The fused compiled step keeps next to
nothing, and its groups grow to ``batch_size`` (bigger ones spread the Python of a step over more
members: bench/RESULTS.md "A fused training step")."""


@dataclass(frozen=True)
class Item:
    """One input of a dataset run and where its INR goes."""

    input: str
    output: str
    replaces: bool = False
    """The output existed when the run was planned and ``--force`` allows replacing it."""


@dataclass(frozen=True)
class ShardSettings:
    """How a worker fits its shard (sent to workers as plain data)."""

    options: object
    """The :class:`~inrcli.api.EncodeOptions` of every item."""
    batch_size: int = DEFAULT_BATCH
    fmt: str | None = None
    as_kind: str | None = None
    threads: int | None = None
    """Compute threads; None for the worker's usable idle cores."""


class Manifest:
    """The run's record, one JSON object per line: ``input``, ``output``, ``status`` (``ok`` or
    ``failed``), ``error``, and for finished items ``batch`` (signals fitted together) and what
    ``inr encode --json`` reports of an encode: ``modality``, ``params``, ``steps``, ``seconds``,
    the kind's headline score (``psnr`` for images, audio, video), ``bytes``, ``bpp``, ``bits`` ….
    Later rows for an input supersede earlier ones.  Only each input's status and output are held
    in memory (a million rows, not a million dicts)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, tuple[str, str]] = {}
        """input → (status, output) of its latest row."""
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        if not self.path.is_file():
            raise UsageError(f"--manifest {self.path}: is not a regular file")
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    row = json.loads(line)
                except ValueError:  # a line torn by a crash mid-write: that item is simply not done
                    continue
                if isinstance(row, dict) and isinstance(row.get("input"), str):
                    self.rows[row["input"]] = (row.get("status"), row.get("output"))

    def done(self, item: Item) -> bool:
        """Whether ``item`` finished in an earlier run into the same output, which still exists."""
        return self.rows.get(item.input) == ("ok", item.output) and Path(item.output).is_file()

    def append(self, rows: list[dict]) -> None:
        """Add ``rows`` durably: written, flushed and synced before this returns."""
        from inrcli.fileformat import finite_json  # a perfect fit's PSNR (infinite) is written as null

        with open(self.path, "a", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(finite_json(row), sort_keys=True, allow_nan=False) + "\n")
                self.rows[row["input"]] = (row["status"], row["output"])
            out.flush()
            os.fsync(out.fileno())


def dataset_inputs(inputs: list[str]) -> list[tuple[str, str]]:
    """Every signal file named or found (recursively, in name order) under a named folder:
    ``(path, name relative to the named folder)`` pairs.  Hidden files and INR files are skipped."""
    found = []
    for source in inputs:
        path = Path(source)
        if source == "-":
            raise UsageError("standard input (-) cannot be part of a dataset run")
        if not path.is_dir():
            found.append((source, path.name))
            continue
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if file.is_file() and not any(part.startswith(".") for part in relative.parts) \
                    and format_of(file.name) in READERS:
                found.append((str(file), str(relative)))
    if not found:
        raise UsageError("no signal files found in " + ", ".join(inputs))
    return found


def plan(inputs: list[str], out_dir: str, manifest: Manifest, force: bool) -> tuple[list[Item], int]:
    """The items still to do, each with its output (``OUTDIR/<relative path>.safetensors``, the
    input folders' layout kept), and how many the manifest says are done already.

    Refused before any work: two inputs with one output, an output that exists but is not this
    dataset's finished work (unless ``force``)."""
    folder = Path(out_dir)
    if not folder.is_dir():
        raise UsageError(f"-o {out_dir}: a dataset run writes into an existing directory")
    items, seen, finished = [], {}, 0
    for source, relative in dataset_inputs(inputs):
        output = output_for(folder, relative)
        if output in seen:
            raise UsageError(f"{seen[output]} and {source} would both be written to {output}")
        seen[output] = source
        item = Item(source, output)
        if manifest.done(item):
            finished += 1
            continue
        exists = Path(output).exists()
        if exists and not force:
            raise OutputExistsError(f"{output} exists and the manifest does not list it as done; "
                                    f"use --force to replace it")
        items.append(Item(source, output, replaces=exists))
    return items, finished


def shards(items: list[Item], size: int) -> list[list[Item]]:
    """``items`` in consecutive shards of at most ``size``."""
    return [items[start:start + size] for start in range(0, len(items), size)]


def shard_size(items: int, batch_size: int, workers: int) -> int:
    """Items per shard: a batch; with several local workers less, so that every worker gets work
    (but at least 8: smaller groups lose the batching gain).  A cluster's shards are batches
    (``--batch-size`` sets both)."""
    if workers <= 1:
        return batch_size
    return max(1, min(batch_size, max(8, -(-items // workers))))


def run_here(work: list[list[Item]], settings: ShardSettings, jobs: int, take: Callable[[list[dict]], None]) -> None:
    """The shards of ``work`` in this process (``jobs`` 1) or in ``jobs`` worker processes;
    ``take(rows)`` hears each shard's rows as it finishes."""
    from inrcli.threads import choose_threads
    from inrcli.workers import in_workers

    workers = min(jobs, max(1, len(work)))
    settings = replace(settings, threads=choose_threads(settings.threads, workers))
    for rows in in_workers(_shard, [(shard, settings) for shard in work], workers, settings.threads, _lost_shard):
        take(rows)


def _shard(arguments: tuple) -> list[dict]:
    return run_shard(*arguments)


def _lost_shard(arguments: tuple, reason: str) -> list[dict]:
    return [failed_row(item, reason) for item in arguments[0]]


def run_shard(items: list[Item], settings: ShardSettings) -> list[dict]:
    """Read, fit (in groups of one shape, together) and write every item of a shard; one manifest
    row per item, in order.  A file that cannot be read, or a group whose fit fails, gives failed
    rows; the rest go on.  Runs with the threads its process has (see :func:`inrcli.workers.in_workers`)."""
    rows: dict[str, dict] = {}
    pending = []
    for item in items:
        adopted = _adopt(item, settings)
        if adopted is not None:
            rows[item.input] = adopted
            continue
        try:
            pending.append((item, _read(item, settings)))
        except InrError as exc:
            rows[item.input] = failed_row(item, str(exc))
    for group in _groups(pending, settings):
        for item, row in zip((item for item, _ in group), _fit_group(group, settings)):
            rows[item.input] = row
    return [rows[item.input] for item in items]


def _read(item: Item, settings: ShardSettings):
    """The item's signal; refused unread when no kind it could be read as can be batched."""
    from inrcli.signals import read_signal, signal_kind

    kinds = (settings.as_kind,) if settings.as_kind else READERS.get(settings.fmt or format_of(item.input), ())
    if kinds and not any(signal_kind(kind).batchable for kind in kinds):
        raise UsageError(f"{' or '.join(kinds)} signals cannot be fitted together (--batch takes signals "
                         f"sampled on a grid: images, audio, video, volumes)")
    return read_signal(item.input, settings.fmt, settings.as_kind)


def _groups(pending: list, settings: ShardSettings) -> Iterator[list]:
    """``pending`` ``(item, signal)`` pairs in groups of one kind and shape, each at most as many
    as fit in memory (and ``batch_size``)."""
    by_shape: dict[tuple, list] = {}
    for item, signal in pending:
        by_shape.setdefault((signal.modality, signal.shape, signal.channels), []).append((item, signal))
    for group in by_shape.values():
        size = members_that_fit(group[0][1], settings)
        for start in range(0, len(group), size):
            yield group[start:start + size]


def members_that_fit(signal, settings: ShardSettings) -> int:
    """How many signals like ``signal`` one fit may hold: ``batch_size``, fewer when a step on the
    CPU would keep more than ``GROUP_KEPT_BYTES`` for its backward pass, or their training memory
    (measured on one) would take more than ``MEMORY_SHARE`` of the device's memory available."""
    from inrcli import api

    footprint = api.training_footprint(signal, settings.options)
    device = settings.options.device
    budget = MEMORY_SHARE * available_memory(device)
    by_cache = GROUP_KEPT_BYTES // max(footprint.kept, 1) if device == "cpu" else settings.batch_size
    return max(1, min(settings.batch_size, by_cache, int(budget // max(footprint.bytes, 1))))


def available_memory(device: str = "cpu") -> int:
    """Bytes free for new allocations now: a GPU's free memory, else ``MemAvailable`` (4 GiB if unknown)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def _fit_group(group: list, settings: ShardSettings) -> list[dict]:
    """Fit one group together and write its files; a row per item."""
    from inrcli import api, fileformat

    try:
        inrs = api.encode_together([signal for _, signal in group], settings.options)
    except (InrError, MemoryError, RuntimeError) as exc:  # the whole group failed together
        message = "out of memory" if isinstance(exc, MemoryError) else str(exc)
        return [failed_row(item, message) for item, _ in group]
    rows = []
    for (item, _), inr in zip(group, inrs):
        if isinstance(inr, InrError):  # that member alone failed
            rows.append(failed_row(item, str(inr)))
            continue
        try:
            Path(item.output).parent.mkdir(parents=True, exist_ok=True)  # the input folders' layout
            size = fileformat.save_to(inr, item.output, force=True, inputs=(item.input,))
        except (InrError, OSError) as exc:
            rows.append(failed_row(item, str(exc)))
            continue
        rows.append(_row(item, api.encode_summary(inr, size), len(group)))
    return rows


def _adopt(item: Item, settings: ShardSettings) -> dict | None:
    """The row of an output that an earlier attempt at this shard wrote (it exists, and did not
    when the run was planned), scored against its input; None if there is none, or it is unusable."""
    if item.replaces or not Path(item.output).is_file():
        return None
    from inrcli import api

    try:
        inr = api.load(item.output)
        scores = api.score(_read(item, settings), inr)
    except InrError:
        return None  # refitted and replaced
    headline = api.kind_of(inr).headline
    summary = {"modality": inr.modality, "params": inr.model.param_count()["total"],
               "steps": inr.training.get("steps"), "seconds": 0.0, headline: round(scores[headline], 4),
               "bytes": Path(item.output).stat().st_size}
    return _row(item, summary, inr.training.get("fitted_together", 1)) | {"adopted": True}


def _row(item: Item, summary: dict, batch: int) -> dict:
    return {"input": item.input, "output": item.output, "status": "ok", "error": None, "batch": batch, **summary}


@dataclass
class Tally:
    """What a run has done so far, without holding its rows (a million of them is a lot of dicts)."""

    items: int = 0
    failed: int = 0
    psnr_sum: float = 0.0
    psnr_count: int = 0

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            self.items += 1
            if row.get("status") != "ok":
                self.failed += 1
            elif isinstance(row.get("psnr"), (int, float)) and math.isfinite(row["psnr"]):
                self.psnr_sum += row["psnr"]
                self.psnr_count += 1

    @property
    def mean_psnr(self) -> float | None:
        """Mean PSNR of the finished rows that have a finite one, or None."""
        return self.psnr_sum / self.psnr_count if self.psnr_count else None
