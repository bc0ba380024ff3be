"""What the CLI shows: progress bars on stderr (rich), JSON on stdout, and the text of ``inr info``."""

from __future__ import annotations

import json
import sys
import time

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported by the bars themselves: `inr info` prints without it
    from rich.console import Console


PLAIN_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal (CI logs, 2> log)


class EncodeProgress:
    """Training: step, running score, time left.  Started on the first step, so set-up errors
    print no bar; updated at most ten times a second.  A run by the clock (``--seconds``) fills
    the bar with time, so its length does not jump as the step estimate moves.  Where stderr is
    no terminal, a plain line every few seconds takes the bar's place."""

    def __init__(self, console: Console, enabled: bool):
        self.enabled = enabled
        self.console = console
        self.plain = not console.is_terminal
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("encoding"), BarColumn(), TextColumn("step {task.fields[step]}"),
                                 TextColumn("{task.fields[psnr]}"), TimeElapsedColumn(),
                                 TextColumn("left {task.fields[left]}"), console=console, transient=False)
        self.task = None
        self.final = None
        self.last = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            if self.final is not None and exc[0] is None:
                self._show(self.final)
            self.progress.stop()
        elif self.plain and self.final is not None and exc[0] is None:
            self.last = 0.0
            self._plain_line(self.final)

    def update(self, info) -> None:
        """Called after every step with a :class:`~inrcli.train.StepInfo`."""
        if not self.enabled:
            return
        self.final = info
        if self.plain:
            self._plain_line(info)
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("encode", total=None, step="0", psnr="…", left="…")
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._show(info)

    def _show(self, info) -> None:
        left = "…" if info.remaining is None else f"{max(info.remaining, 0):.0f}s"
        if info.budget is not None:  # by the clock: time fills the bar, the step count is only counted
            self.progress.update(self.task, completed=min(info.elapsed, info.budget), total=info.budget,
                                 step=str(info.step), psnr=_score_text(info), left=left)
        else:
            self.progress.update(self.task, completed=info.step, total=info.planned_steps,
                                 step=f"{info.step}/{info.planned_steps}", psnr=_score_text(info), left=left)

    def _plain_line(self, info) -> None:
        now = time.monotonic()
        if now - self.last < PLAIN_EVERY:
            return
        self.last = now
        of = "" if info.budget is not None else f"/{info.planned_steps}"
        left = "" if info.remaining is None else f", {max(info.remaining, 0):.0f} s left"
        self.console.print(f"encoding: step {info.step}{of}, {_score_text(info)}, {info.elapsed:.0f} s{left}",
                           markup=False, highlight=False)


def _score_text(info) -> str:
    score = f"{info.score:.2f} dB" if info.score_name == "PSNR" else f"{info.score:.4f}"
    return f"{info.score_name} {score}"


class FilesProgress:
    """A many-file run: files finished of all."""

    def __init__(self, console: Console, total: int, enabled: bool):
        self.enabled = enabled
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("files"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=console)
        self.task = None
        self.total = total

    def __enter__(self):
        if self.enabled:
            self.progress.start()
            self.task = self.progress.add_task("files", total=self.total)
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.stop()

    def advance(self) -> None:
        if self.task is not None:
            self.progress.advance(self.task)


class ItemsProgress:
    """A dataset run: items finished of all, items per second and the time left.  Where stderr is
    no terminal (a log), a plain line every few seconds takes the bar's place."""

    def __init__(self, console: Console, total: int, enabled: bool):
        self.enabled = enabled and total > 0
        self.console, self.total = console, total
        self.plain = not console.is_terminal
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("items"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,}"),
                                 TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"),
                                 TimeRemainingColumn(), console=console)
        self.task = None
        self.done, self.start, self.last = 0, 0.0, 0.0

    def __enter__(self):
        self.start = time.perf_counter()
        if self.enabled and not self.plain:
            self.progress.start()
            self.task = self.progress.add_task("items", total=self.total, rate="")
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.stop()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        rate = self.done / (now - self.start) if now > self.start else 0.0
        if self.task is not None:
            self.progress.update(self.task, advance=count, rate=f"{rate:.1f} items/s")
        elif self.enabled and (now - self.last >= PLAIN_EVERY or self.done == self.total):
            self.last = now
            left = f", {(self.total - self.done) / rate:.0f} s left" if rate > 0 else ""
            self.console.print(f"items {self.done:,}/{self.total:,}, {rate:.1f} items/s{left}", markup=False)


class DecodeProgress:
    """Decoding: share of the output's samples evaluated."""

    def __init__(self, console: Console, enabled: bool):
        self.enabled = enabled
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("decoding"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeElapsedColumn(), console=console)
        self.task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.stop()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("decode", total=total)
        self.progress.update(self.task, completed=done, total=total)


def emit_json(data: dict) -> None:
    """One line of strict JSON on stdout: infinities and NaN (a perfect PSNR) become null."""
    from inrcli.fileformat import finite_json

    sys.stdout.write(json.dumps(finite_json(data), allow_nan=False) + "\n")
    sys.stdout.flush()


def param_text(counts: dict[str, int]) -> str:
    """``total = part + part (n per partition)`` from a model's parameter counts."""
    parts = [f"{name} {value:,}" for name, value in counts.items() if name != "total" and not name.startswith("per_")]
    each = [f"{value:,} {name.replace('_', ' ')}" for name, value in counts.items() if name.startswith("per_")]
    return (f"{counts['total']:,}" + (" = " + " + ".join(parts) if parts else "")
            + (f" ({', '.join(each)})" if each else ""))


def training_text(record: dict, kind) -> str:
    """Steps, final score, why it stopped, seed: from a file's training record."""
    headline, spec = kind.headline, kind.metric_specs[kind.headline]
    value = record.get(headline)
    quality = spec.text(value) if isinstance(value, (int, float)) else "quality n/a"
    held = record.get(f"holdout_{headline}")
    if isinstance(held, (int, float)):
        quality += f" (held out: {spec.text(held)})"
    took = f" in {record['seconds']} s" if "seconds" in record else ""  # files before 0.2 stored the time
    return (f"{record.get('steps')} steps{took}, {quality}, stopped by {record.get('stopped_by')}, "
            f"seed {record.get('seed')}")


def info_text(model: str, data: dict, kind) -> str:
    """What ``inr info`` prints: ``data`` is :func:`inrcli.fileformat.describe_source`'s, ``kind``
    the file's signal kind."""
    channels = data["channels"]
    lines = [f"file        {model} ({file_text(data)})",
             f"modality    {data['modality']}, {kind.size_text(tuple(data['shape']))} × {channels} "
             f"channel{'s' if channels != 1 else ''}{kind.rate_text(data['signal_info'])}",
             f"arch        {data['arch']}"]
    if data["partitions"] is not None:
        kept = ",".join(f"{lo}:{hi}" for lo, hi in data["kept"])
        lines.append(f"partitions  {'×'.join(map(str, data['partitions']))} grid, kept {kept}"
                     + (" (cropped)" if data["cropped"] else ""))
    lines.append(f"params      {param_text(data['param_counts'])}")
    if "members" in data["signal_info"]:
        names = data["signal_info"]["members"]
        lines.append(f"members     {len(names)}: {', '.join(names[:8])}{', …' if len(names) > 8 else ''}")
    if data["training"]:
        lines.append(f"training    {training_text(data['training'], kind)}")
    return "\n".join(lines)


def encode_line(summary: dict, kind) -> str:
    """``a.png → a.safetensors: 184,850 params, 3155 steps in 60.0 s, PSNR 35.28 dB, 741,976 bytes (22.6 bpp)``."""
    quality = kind.metric_specs[kind.headline].text(summary[kind.headline])
    return (f"{summary['input']} → {summary['output']}: {summary['params']:,} params, {summary['steps']} steps in "
            f"{summary['seconds']:.1f} s, {quality}, {summary['bytes']:,} bytes ({summary['bpp']:.3g} bpp)")


def file_text(data: dict) -> str:
    """``741,976 bytes, 22.6 bpp, weights float32`` (or ``8-bit coded``) from ``inr info``'s data."""
    weights = f"{data['bits']}-bit coded" if data["bits"] <= 16 and data["dtype"] == "float32" else data["dtype"]
    return f"{data['file_bytes']:,} bytes, {data['bpp']:.3g} bpp, weights {weights}"


def extend_line(summary: dict) -> str:
    """``a.safetensors + big.png → a_extended.safetensors: 16 partitions added (grid 16×32), …``."""
    grid = "×".join(map(str, summary["partitions"]))
    return (f"{summary['model']} + {summary['signal']} → {summary['output']}: {summary['added_partitions']} partitions "
            f"added (grid {grid}), {summary['steps']} steps in {summary['seconds']:.1f} s, new region "
            f"{summary['new_region_psnr']:.2f} dB, {summary['bytes']:,} bytes "
            f"({100 * summary['bytes'] / max(summary['original_bytes'], 1):.0f}% of the original)")
