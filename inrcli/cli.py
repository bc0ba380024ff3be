"""The ``inr`` command: parse flags, call :mod:`inrcli.api`, render.

Progress and status go to stderr; stdout carries only data (a file written to ``-``, a
report, or one JSON object with ``--json``).  Errors are one ``inr: error: ...`` line.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from inrcli import __version__, api, fileformat
from inrcli.errors import InrError, InrFileError, Terminated, UsageError
from inrcli.files import STDIO, atomic_output, check_target, extension_of, input_path, read_head
from inrcli.models import model_class
from inrcli.signals import modality as modality_for_name
from inrcli.signals import (DEFAULT_OUTPUT, INR_EXTENSIONS, Signal, read_signal, resolve_format, sniff, write_signal,
                            writer_for)
from inrcli.signals.video import frame_pattern, write_frames

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Turn signals into implicit neural representations (.safetensors) and back.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
STATE = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"inr {__version__}")
        raise typer.Exit()


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    STATE["debug"] = debug


def command(func):
    """Run a command body, turning library errors and interrupts into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except InrError as exc:
            if STATE["debug"]:
                raise
            err.print(f"inr: error: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            err.print("inr: error: interrupted; no output written", markup=False)
            raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
        except MemoryError:
            err.print("inr: error: out of memory; try a smaller size, fewer --params or a region", markup=False)
            raise typer.Exit(1) from None
        except Exception as exc:
            if STATE["debug"]:
                raise
            err.print(f"inr: error: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
                      markup=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def _emit_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, allow_nan=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {value!r}")


def _parse_ints(text: str, flag: str, sep: str = ",") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.lower().split(sep))
    except ValueError:
        raise UsageError(f"{flag}: expected whole numbers separated by {sep!r}, got {text!r}") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{flag}: numbers must be positive, got {text!r}")
    return values


def _check_json_stdout(output: str, as_json: bool) -> None:
    if output == STDIO and as_json:
        raise UsageError("--json and -o - both want stdout; write the output to a file")


def load_inr(source: str) -> fileformat.InrFile:
    """Read an INR file (or ``-``) and validate it; errors name the file."""
    name = "stdin" if source == STDIO else source
    with input_path(source, "safetensors") as path:
        kind = sniff(read_head(path))
        if kind not in (None, "safetensors"):
            raise InrFileError(f"{name} is a {kind} file, not an INR file (.safetensors made by inr encode)")
        try:
            return fileformat.load(path)
        except InrFileError as exc:
            raise InrFileError(f"{name}: {exc}") from None


def _is_inr(source: str, fmt: Optional[str]) -> bool:
    if fmt:
        return fmt.lower() in INR_EXTENSIONS
    if source == STDIO:
        return False
    with input_path(source) as path:
        return resolve_format(path, source, None) in INR_EXTENSIONS


class _EncodeProgress:
    """A rich progress bar on stderr for training: step, PSNR, time left."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = Progress(TextColumn("encoding"), BarColumn(), TextColumn("step {task.fields[step]}"),
                                 TextColumn("{task.fields[psnr]}"), TimeElapsedColumn(),
                                 TextColumn("left {task.fields[left]}"), console=err, transient=False)
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

    def update(self, info) -> None:
        """Called after every step; started on the first, so set-up errors print no bar."""
        if not self.enabled:
            return
        self.final = info
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("encode", total=None, step="0", psnr="…", left="…")
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._show(info)

    def _show(self, info) -> None:
        left = "…" if info.remaining is None else f"{max(info.remaining, 0):.0f}s"
        score = f"{info.score:.2f} dB" if info.score_name == "PSNR" else f"{info.score:.4f}"
        self.progress.update(self.task, completed=info.step, total=info.planned_steps, step=f"{info.step}/{info.planned_steps}",
                             psnr=f"{info.score_name} {score}", left=left)


@app.command()
@command
def encode(
    input: Annotated[str, typer.Argument(help="Signal file to encode, or - for stdin.")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output .safetensors (default: INPUT with .safetensors; - for stdout).")] = None,
    arch: Annotated[Optional[str], typer.Option(help="Architecture: lg-siren (croppable; the default) or siren (the default for graphs).")] = None,
    partitions: Annotated[str, typer.Option(help="Partition grid, rows first (e.g. 16,16), or auto (~32 px each).")] = "auto",
    params: Annotated[Optional[int], typer.Option(help="Parameter budget (default grows with the signal: ~200k for 512×512).")] = None,
    steps: Annotated[Optional[int], typer.Option(help=f"Training steps (default {api.DEFAULT_STEPS} unless --seconds is given).")] = None,
    seconds: Annotated[Optional[float], typer.Option(help="Wall-clock training budget in seconds.")] = None,
    target_psnr: Annotated[Optional[float], typer.Option(help="Stop once the full decode reaches this PSNR (dB).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate, cosine decay (default: images 1e-3, audio 5e-4).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and flags, same weights.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or mps.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="Storage precision of the weights: float32 or float16.")] = "float32",
    sample_fraction: Annotated[Optional[float], typer.Option(help="Share of each partition's samples drawn per step (default: images 1/16, video and audio 1/32).")] = None,
    global_width: Annotated[Optional[int], typer.Option(help="Width of lg-siren's global branch (default: images and audio 16, video and shapes 32).")] = None,
    constant_lr: Annotated[bool, typer.Option("--constant-lr", help="Keep the learning rate constant (no cosine decay), as the published recipes do.")] = False,
    checkpoint: Annotated[Optional[str], typer.Option(help="Save the training state to this file as it runs, and resume from it if it exists (removed once the output is written).")] = None,
    checkpoint_every: Annotated[float, typer.Option(help="Seconds of training between checkpoint saves.")] = 30.0,
    field: Annotated[Optional[str], typer.Option(help="Shapes: occupancy (default) or sdf.")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Graphs: Laplacian eigenvectors in the node embedding (default 100).")] = None,
    holdout: Annotated[float, typer.Option(help="Graphs: share of nodes left out of training; their R² is reported.")] = 0.0,
    as_modality: Annotated[Optional[str], typer.Option("--modality", help="Read the input as this kind of signal (e.g. graph for a PLY whose vertices carry values).")] = None,
    input_format: Annotated[Optional[str], typer.Option("--format", help="Input format when the name does not say (e.g. png for stdin).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Fit an INR to a signal and save it as .safetensors."""
    output = output or _default_output(input, "safetensors")
    _check_json_stdout(output, as_json)
    for name, value in (("--steps", steps), ("--seconds", seconds), ("--params", params)):
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be positive")
    if global_width is not None and not 1 <= global_width <= 4096:
        raise UsageError("--global-width must be between 1 and 4096")
    if lr is not None and not 0 < lr < 1:
        raise UsageError("--lr must be in (0, 1)")
    if sample_fraction is not None and not 0 < sample_fraction <= 1:
        raise UsageError("--sample-fraction must be in (0, 1]")
    options = api.EncodeOptions(
        arch=arch, partitions=None if partitions == "auto" else _parse_ints(partitions, "--partitions"),
        params=params, steps=steps, seconds=seconds, target_psnr=target_psnr, lr=lr, seed=seed, device=device,
        dtype=dtype, sample_fraction=sample_fraction, global_width=global_width, field=field, k=k, holdout=holdout,
        constant_lr=constant_lr, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    if checkpoint is not None:
        _check_checkpoint_path(checkpoint, (input, output))
    if not checkpoint_every >= 0:
        raise UsageError("--checkpoint-every must be zero or more seconds")
    if arch is not None:
        model_class(arch)  # unknown names fail before the input is read
    if not 0 <= holdout < 1:
        raise UsageError("--holdout must be in [0, 1)")
    if k is not None and not 1 <= k <= 1024:
        raise UsageError("--k must be between 1 and 1024")
    if dtype not in fileformat.STORAGE_DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(fileformat.STORAGE_DTYPES)}, got {dtype!r}")
    check_target(output, force, (input,))
    sig = read_signal(input, input_format, as_modality)
    try:
        with _EncodeProgress(enabled=not quiet) as bar:
            inr = api.encode(sig, options, on_step=bar.update)
    except KeyboardInterrupt as exc:
        if checkpoint is None or not Path(checkpoint).exists():
            raise
        err.print(f"inr: error: interrupted; no output written; progress is saved in {checkpoint} "
                  f"(run the same command to resume)", markup=False, soft_wrap=True)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    with atomic_output(output, force, "safetensors", (input,)) as tmp:
        size = fileformat.save(inr, tmp)
    if checkpoint is not None:  # the output holds the result now; the training state has done its job
        Path(checkpoint).unlink(missing_ok=True)
    headline = modality_for_name(inr.modality).headline_metric
    summary = {"output": output, "input": input, "modality": inr.modality, "arch": inr.arch,
               "params": inr.model.param_count()["total"], "steps": inr.training["steps"],
               "seconds": round(inr.elapsed, 3), headline: inr.training[headline], "bytes": size,
               "partitions": list(inr.model.partitioning.grid) if inr.arch == "lg-siren" else None,
               **{key: value for key, value in inr.training.items() if key.startswith("holdout_")},
               "stopped_by": inr.training["stopped_by"]}
    if as_json:
        _emit_json(summary)
    if not quiet:
        quality = f"PSNR {summary['psnr']:.2f} dB" if headline == "psnr" else f"{headline.upper()} {summary[headline]:.4f}"
        err.print(f"{input} → {output}: {summary['params']:,} params, {summary['steps']} steps in "
                  f"{summary['seconds']:.1f} s, {quality}, {size:,} bytes", markup=False)


def _check_checkpoint_path(checkpoint: str, others: tuple[str, ...]) -> None:
    path = Path(checkpoint)
    if checkpoint == STDIO or path.is_dir() or not path.resolve().parent.is_dir():
        raise UsageError(f"--checkpoint {checkpoint}: name a file in an existing directory")
    for other in others:
        if other != STDIO and path.resolve() == Path(other).resolve():
            raise UsageError(f"--checkpoint {checkpoint}: must differ from the input and the output")


def _default_output(source: str, ext: str) -> str:
    if source == STDIO:
        raise UsageError("reading stdin: name the output with -o (- for stdout)")
    return str(Path(source).with_suffix(f".{ext}"))


@app.command()
@command
def decode(
    model: Annotated[str, typer.Argument(help="INR file (.safetensors), or - for stdin.")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file, format from its extension; - for stdout (with --format); frames/%04d.png for video frames.")] = None,
    scale: Annotated[Optional[float], typer.Option(help="Resolution factor (2 = twice as many samples per axis; video: spatial axes).")] = None,
    size: Annotated[Optional[str], typer.Option(help="Exact picture size WxH (images, video frames).")] = None,
    rate: Annotated[Optional[float], typer.Option(help="Audio sample rate in Hz (same duration).")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Video frame rate (same duration).")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Video frame count (same duration).")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Shapes: grid samples per axis across the whole cube for marching cubes.")] = None,
    mesh: Annotated[Optional[str], typer.Option(help="Graphs: decode onto this mesh (another discretisation of the surface) instead of the stored one.")] = None,
    keep_specks: Annotated[bool, typer.Option("--keep-specks", help="Shapes: keep surface pieces smaller than 1% of the largest (dropped by default).")] = False,
    out_format: Annotated[Optional[str], typer.Option("--format", help="Output format when -o has no extension (png, jpg, wav, mp4…).")] = None,
    bit_depth: Annotated[Optional[int], typer.Option(help="Bits per channel: 8 or 16 (PNG/TIFF).")] = None,
    quality: Annotated[Optional[int], typer.Option(help="JPEG quality 1-100 (default 95); video quality 0-10 (default 8).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or mps.")] = "cpu",
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Decode an INR to a signal at any resolution."""
    if bit_depth not in (None, 8, 16):
        raise UsageError("--bit-depth must be 8 or 16")
    inr = load_inr(model)
    output = output or _default_output(model, DEFAULT_OUTPUT[inr.modality])
    _check_json_stdout(output, as_json)
    pattern = inr.modality == "video" and frame_pattern(output)
    ext = "png" if pattern else (out_format or extension_of(output) or "").lower().lstrip(".")
    if not ext:
        raise UsageError(f"cannot tell the output format of {output!r}; use --format")
    dims = None if size is None else tuple(reversed(_parse_ints(size, "--size", "x")))  # WxH → rows first
    request = api.DecodeRequest(scale=scale, size=dims, rate=rate, fps=fps, frames=frames, resolution=resolution)
    out_shape, out_info = api.output_shape(inr, request)
    if not pattern:
        writer_for(inr.modality, ext)  # refuse before decoding
    if not pattern:
        check_target(output, force, (model,))
    started = time.perf_counter()
    with _DecodeProgress(enabled=not quiet and math.prod(out_shape) > 4_000_000) as bar:
        target_mesh = None
        if mesh is not None:
            if inr.modality != "graph":
                raise UsageError("--mesh applies to graph signals")
            target_mesh = read_mesh_for_graph(mesh)
        decoded = api.decode(inr, out_shape, device=device, on_progress=bar.update, info=out_info, mesh=target_mesh)
    options = {"bit_depth": bit_depth, "quality": quality, "keep_specks": keep_specks}
    if pattern:
        written = write_frames(decoded, output, options, lambda frame, name: _write_one(frame, name, force, options))
    else:
        with atomic_output(output, force, ext, (model,)) as tmp:
            write_signal(decoded, tmp, ext, options)
        written = [output]
    summary = {"output": output, "shape": list(out_shape), "files": len(written),
               "seconds": round(time.perf_counter() - started, 3)} | _rate_fields(out_info)
    if as_json:
        _emit_json(summary)
    if not quiet and output != STDIO:
        err.print(f"{model} → {output}: {_size_text(out_shape, inr.modality)}{_rate_text(out_info)} in {summary['seconds']:.2f} s",
                  markup=False)


def read_mesh_for_graph(source: str) -> dict:
    """Vertices and faces of a mesh file (or .npz with points and faces/edges) to decode onto."""
    from inrcli.signals.shape import load_mesh

    with input_path(source) as path:
        ext = resolve_format(path, source, None)
        if ext == "npz":
            from inrcli.signals.graph import _read_npz

            points, faces, edges, _ = _read_npz(path)
            return {"points": points, "faces": faces, "edges": edges}
        loaded = load_mesh(path, ext)
        return {"points": loaded.vertices, "faces": loaded.faces, "edges": None}


def _write_one(frame: Signal, name: str, force: bool, options: dict) -> None:
    ext = extension_of(name)
    with atomic_output(name, force, ext) as tmp:
        write_signal(frame, tmp, ext, options)


def _rate_fields(info: dict) -> dict:
    return {key: info[key] for key in ("rate", "fps") if key in info}


def _rate_text(info: dict) -> str:
    if "rate" in info:
        return f" at {info['rate']} Hz"
    if "fps" in info:
        return f" at {info['fps']:.3g} fps"
    return ""


class _DecodeProgress:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = Progress(TextColumn("decoding"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeElapsedColumn(), console=err)
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


def _size_text(shape: tuple[int, ...], modality: str) -> str:
    """Human size: W×H for pictures, frames of W×H for video, samples for audio, a grid for shapes."""
    if modality == "audio":
        return f"{shape[0]} samples"
    if modality == "graph":
        return f"{shape[0]} nodes"
    if modality == "video":
        return f"{shape[0]} frames of {shape[2]}×{shape[1]}"
    if modality == "shape":
        return f"{'×'.join(map(str, shape))} grid"
    return f"{shape[1]}×{shape[0]}"


@app.command()
@command
def crop(
    model: Annotated[str, typer.Argument(help="lg-siren INR file, or - for stdin.")],
    region: Annotated[str, typer.Option(help="Partitions to keep, R0:R1,C0:C1 (half-open, grid indices of the original).")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file (default: MODEL_crop.safetensors; - for stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Keep a block of partitions: a smaller file that decodes to that region, without retraining."""
    if output is None:
        if model == STDIO:
            raise UsageError("reading stdin: name the output with -o (- for stdout)")
        output = str(Path(model).with_name(Path(model).stem + "_crop.safetensors"))
    _check_json_stdout(output, as_json)
    check_target(output, force, (model,))
    inr = load_inr(model)
    cropped = api.crop(inr, region)
    with atomic_output(output, force, "safetensors", (model,)) as tmp:
        size = fileformat.save(cropped, tmp)
    summary = {"output": output, "kept": [list(k) for k in cropped.model.partitioning.kept],
               "shape": list(cropped.signal.shape), "params": cropped.model.param_count()["total"],
               "bytes": size, "original_bytes": inr.size_bytes}
    if as_json:
        _emit_json(summary)
    if not quiet:
        err.print(f"{model} → {output}: kept partitions {region}, {_size_text(cropped.signal.shape, inr.modality)}, "
                  f"{size:,} bytes ({100 * size / max(inr.size_bytes, 1):.0f}% of the original)", markup=False)


@app.command("eval")
@command
def evaluate(
    reference: Annotated[str, typer.Argument(help="Reference signal file.")],
    candidate: Annotated[str, typer.Argument(help="Candidate: a signal file or an INR file (decoded at the reference's resolution).")],
    error_map: Annotated[Optional[str], typer.Option("--error-map", help="Write a picture of the per-pixel error with the partition grid and per-partition PSNR.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing error map.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Compare a candidate with a reference: PSNR and SSIM for images."""
    ref = read_signal(reference)
    inr = load_inr(candidate) if _is_inr(candidate, None) else None
    if error_map is not None:
        check_target(error_map, force, (reference, candidate))
    scores = api.evaluate(ref, inr if inr is not None else read_signal(candidate))
    if error_map is not None:
        _write_error_map(ref, inr, candidate, error_map, force)
    if as_json:
        _emit_json(scores)
        return
    parts = [f"{name.upper()} {value:.4f}" if name == "ssim" else f"{name.upper()} {value:.2f} dB"
             for name, value in scores.items() if isinstance(value, float)]
    print("  ".join(parts) + (f"  (region {scores['region']})" if "region" in scores else ""))
    err.print(scores["convention"], markup=False, style="dim")


def _write_error_map(ref: Signal, inr, candidate: str, target: str, force: bool) -> None:
    from inrcli import errormap
    from inrcli.signals.image import quantize

    if ref.modality != "image":
        raise UsageError("--error-map is for images")
    cand = api.decode(inr, ref.shape) if inr is not None else read_signal(candidate)
    bits = ref.info.get("bit_depth", 8)
    edges = None
    if inr is not None:
        window = [(lo, hi) for lo, hi in inr.signal.window]
        ref = Signal(ref.modality, ref.values[tuple(slice(lo * n // f, hi * n // f) for (lo, hi), n, f in
                                                    zip(window, ref.shape, inr.signal.full_shape))], ref.info)
        cand = api.decode(inr, ref.shape)
        partitioning = getattr(inr.model, "partitioning", None)
        if partitioning is not None:
            edges = tuple(tuple(round((partitioning.edges[a][k] - partitioning.edges[a][lo]) * ref.shape[a]
                                      / (partitioning.edges[a][hi] - partitioning.edges[a][lo]))
                                for k in range(lo, hi + 1))
                          for a, (lo, hi) in enumerate(partitioning.kept))
    picture = errormap.render(quantize(ref.values, bits), quantize(cand.values, bits), 2.0 ** bits - 1, edges)
    ext = extension_of(target) or "png"
    with atomic_output(target, force, ext) as tmp:
        write_signal(Signal("image", picture.astype("float32") / 255.0, {"bit_depth": 8}), tmp, ext, {})


@app.command()
@command
def info(
    model: Annotated[str, typer.Argument(help="INR file, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Describe an INR file: modality, architecture, partitions, parameters, training record."""
    inr = load_inr(model)
    data = api.describe(inr)
    if as_json:
        _emit_json(data)
        return
    counts = data["param_counts"]
    lines = [f"file        {model} ({data['file_bytes']:,} bytes, weights {data['dtype']})",
             f"modality    {data['modality']}, {_size_text(tuple(data['shape']), data['modality'])} × {data['channels']} "
             f"channel{'s' if data['channels'] != 1 else ''}"
             + _rate_text(data["signal_info"]),
             f"arch        {data['arch']}"]
    if data["partitions"] is not None:
        kept = ",".join(f"{lo}:{hi}" for lo, hi in data["kept"])
        lines.append(f"partitions  {'×'.join(map(str, data['partitions']))} grid, kept {kept}"
                     + (" (cropped)" if data["cropped"] else ""))
        lines.append(f"params      {counts['total']:,} = local {counts['local']:,} ({counts['per_partition']:,} per "
                     f"partition) + global {counts['global']:,} + merge {counts['merge']:,}")
    else:
        lines.append(f"params      {counts['total']:,}")
    t = data["training"]
    if t:
        if isinstance(t.get("psnr"), (int, float)):
            quality = f"PSNR {t['psnr']:.2f} dB"
        else:
            quality = next((f"{label} {t[key]:.4f}" for key, label in (("iou", "IoU"), ("r2", "R²"))
                            if isinstance(t.get(key), (int, float))), "quality n/a")
        if isinstance(t.get("holdout_r2"), (int, float)):
            quality += f" (held-out nodes {t['holdout_r2']:.4f})"
        took = f" in {t['seconds']} s" if "seconds" in t else ""  # files before 0.2 stored the time
        lines.append(f"training    {t.get('steps')} steps{took}, {quality}, "
                     f"stopped by {t.get('stopped_by')}, seed {t.get('seed')}")
    print("\n".join(lines))


def main() -> None:
    from inrcli.__main__ import main as run

    run()
