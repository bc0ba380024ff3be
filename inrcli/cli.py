"""The ``inr`` command: parse flags, call :mod:`inrcli.api`, render.

Progress and status go to stderr; stdout carries only data (a file written to ``-``, a
report, or one JSON object with ``--json``).  Errors are one ``inr: error: ...`` line.
"""

from __future__ import annotations

import importlib
import math
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from inrcli import DEFAULT_STEPS, __version__
from inrcli.errors import Terminated, UsageError
from inrcli.outcome import OneLineUsageErrors, fail, guarded
from inrcli.files import STDIO, check_target
from inrcli.render import (DecodeProgress, EncodeProgress, FilesProgress, emit_json, encode_line, extend_line,
                           info_text)
from inrcli.threads import apply_threads, choose_threads, default_workers
from inrcli import cli_sets

class _Lazy:
    """A module imported on first use, so that ``--version`` and ``--help`` start without torch."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute: str):
        return getattr(importlib.import_module(self._name), attribute)


api, batch, checkpoints = _Lazy("inrcli.api"), _Lazy("inrcli.batch"), _Lazy("inrcli.checkpoint")
fileformat, signals = _Lazy("inrcli.fileformat"), _Lazy("inrcli.signals")
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=OneLineUsageErrors,
                  rich_markup_mode=None,  # plain click help: rich's help renderer imports a Markdown parser (0.1 s a start)
                  help="Turn signals into implicit neural representations (.safetensors) and back.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
STATE = {"debug": False}


def command(func):
    """Run a command body so that it ends in one error line and an exit code (see :mod:`inrcli.outcome`)."""
    return guarded(func, err, lambda: STATE["debug"])
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N or mps.")]
Seconds = Annotated[Optional[float], typer.Option(help="Wall-clock training budget in seconds.")]
KindLr = Annotated[Optional[float], typer.Option(help="Peak learning rate (default: the kind's).")]


def _version(value: bool) -> None:
    if value:
        print(f"inr {__version__}")
        raise typer.Exit()


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    STATE["debug"] = debug


def _parse_ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{flag}: expected whole numbers separated by ',', got {text!r}") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{flag}: numbers must be positive, got {text!r}")
    return values


def _check_json_stdout(output: str, as_json: bool) -> None:
    if output == STDIO and as_json:
        raise UsageError("--json and -o - both want stdout; write the output to a file")


def _default_output(source: str, ext: str, suffix: str = "") -> str:
    if source == STDIO:
        raise UsageError("reading stdin: name the output with -o (- for stdout)")
    path = Path(source)
    return str(path.with_name(path.stem + suffix + f".{ext}"))


@app.command()
@command
def encode(
    inputs: Annotated[list[str], typer.Argument(help="Signal files to encode; - for stdin (one input only).")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output .safetensors (default: INPUT with .safetensors; - for stdout); a directory for several inputs.")] = None,
    arch: Annotated[Optional[str], typer.Option(help="Architecture: lg-siren (croppable; the default) or siren (the default for graphs).")] = None,
    partitions: Annotated[str, typer.Option(help="Partition grid, rows first (e.g. 16,16), or auto (~32 px each).")] = "auto",
    params: Annotated[Optional[int], typer.Option(help="Parameter budget (default grows with the signal: ~200k for 512×512).")] = None,
    steps: Annotated[Optional[int], typer.Option(help=f"Training steps (default {DEFAULT_STEPS} unless --seconds is given).")] = None,
    seconds: Annotated[Optional[float], typer.Option(help="Wall-clock training budget in seconds.")] = None,
    target_psnr: Annotated[Optional[float], typer.Option(help="Stop once the full decode reaches this PSNR (dB).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate, cosine decay (default: images 1e-3, audio 5e-4).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed and flags, same weights.")] = 0,
    device: Device = "cpu",
    dtype: Annotated[Optional[str], typer.Option(help="Storage precision of float weights: float32 (the default), or float16 (float storage, as --bits 32; the default for sets).")] = None,
    bits: Annotated[Optional[int], typer.Option(help="Bits per weight: 2–16 quantised and entropy-coded, 32 for floats (default 8; audio 9).")] = None,
    bpp: Annotated[Optional[float], typer.Option(help="Size target: bits per sample (pixel, audio sample, video voxel); sets the parameter count.")] = None,
    max_bytes: Annotated[Optional[int], typer.Option(help="Size target: the file's bytes at most; sets the parameter count.")] = None,
    sample_fraction: Annotated[Optional[float], typer.Option(help="Share of each partition's samples drawn per step (default: images 1/16, video and audio 1/32).")] = None,
    global_width: Annotated[Optional[int], typer.Option(help="Width of lg-siren's global branch (default: images and audio 16, video and shapes 32).")] = None,
    local_frequency: Annotated[Optional[str], typer.Option(help="lg-siren: the top frequency, in radians per sample, that every local network's first layer starts with, or siren for SIREN's initialisation (default: pictures, video and audio 0.35; shapes and volumes siren).")] = None,
    constant_lr: Annotated[bool, typer.Option("--constant-lr", help="Keep the learning rate constant (no cosine decay), as the published recipes do.")] = False,
    checkpoint: Annotated[Optional[str], typer.Option(help="Save the training state to this file as it runs, and resume from it if it exists (removed once the output is written).")] = None,
    checkpoint_every: Annotated[float, typer.Option(help="Seconds of training between checkpoint saves.")] = 30.0,
    field: Annotated[Optional[str], typer.Option(help="Shapes: occupancy (default) or sdf.")] = None,
    k: Annotated[Optional[str], typer.Option("--k", help="Graphs: Laplacian eigenvectors in the node embedding, or auto (the default: the best of 10, 30, 100 on validation nodes).")] = None,
    laplacian: Annotated[Optional[str], typer.Option(help="Graphs: cotangent, combinatorial, or auto (the default: a mesh tries both with --k auto; edges use combinatorial).")] = None,
    holdout: Annotated[Optional[float], typer.Option(help="Graphs: share of nodes left out of training; their R² is reported.")] = None,
    as_kind: Annotated[Optional[str], typer.Option("--modality", help="Read the input as this kind of signal (e.g. graph for a PLY whose vertices carry values).")] = None,
    input_format: Annotated[Optional[str], typer.Option("--format", help="Input format when the name does not say (e.g. png for stdin).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="With several inputs: worker processes, each encoding files of its own (default 1; fitting together: one per idle core).")] = None,
    as_set: Annotated[bool, typer.Option("--set", help="Encode the inputs as one set (made anyway from several files, or a folder of named pictures, into one .safetensors).")] = False,
    code_dim: Annotated[Optional[int], typer.Option(help="Sets: numbers per member's code (default 64, fewer for small budgets); spatial: per cell of the code's grid (default: as many as --params allows).")] = None,
    conditioning: Annotated[str, typer.Option(help="Sets: spatial (the default: a learned grid of codes over each member), latent (one learned code vector per member) or index (the index as input). Members can be added to, and interpolated between, learned codes.")] = "spatial",
    size: Annotated[Optional[str], typer.Option(help="Sets: resize every image to WxH.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Compute threads per process (default: the usable cores that are idle, shared among --jobs; or INR_THREADS / OMP_NUM_THREADS).")] = None,
    fit_together: Annotated[Optional[bool], typer.Option("--batch/--no-batch", help="A dataset: fit the inputs (files, or folders searched recursively) of one shape together in one batched model, one file each into -o DIR, with a manifest that lets a rerun resume. Without either flag, 16 or more small files (64×64 samples or fewer) are fitted together, without a manifest.", show_default=False)] = None,
    batch_size: Annotated[int, typer.Option(help="--batch: most signals fitted together (fewer when memory is short).")] = 256,
    manifest: Annotated[Optional[str], typer.Option(help="--batch: the JSON-lines record of every input (default DIR/manifest.jsonl); rows marked ok are skipped on a rerun.")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="--batch on a Dask cluster: tcp://HOST:PORT of its scheduler (outputs on a shared file system), or local:N worker processes here.")] = None,
    force: Force = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Fit an INR to each signal and save it as .safetensors."""
    options = api.EncodeOptions(
        arch=arch, params=params, steps=steps, seconds=seconds, target_psnr=target_psnr, lr=lr, seed=seed,
        device=device, dtype=dtype or "float32", bits=bits, bpp=bpp, max_bytes=max_bytes, sample_fraction=sample_fraction, constant_lr=constant_lr, checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        model_options={"partitions": None if partitions == "auto" else _parse_ints(partitions, "--partitions"),
                       "global_width": global_width, "local_frequency": local_frequency},
        kind_options={"field": field, "k": k, "holdout": holdout, "laplacian": laplacian})
    options.check()
    if fit_together or manifest is not None or cluster is not None:
        return _encode_dataset(inputs, output, options, (batch_size, input_format, as_kind, threads), jobs,
                               (manifest, cluster), force, quiet, as_json)
    if cli_sets.wants_set(inputs, output, as_set):
        set_options = importlib.import_module("inrcli.collection").SetOptions(code_dim, conditioning, dtype)
        return cli_sets.encode(inputs, output, options, set_options, size, threads, err, force, quiet, as_json)
    if len(inputs) > 1 or (output is not None and Path(output).is_dir()):
        return _encode_many(inputs, output, options, (jobs, threads, fit_together), (input_format, as_kind), force,
                            quiet, as_json)
    input = inputs[0]
    output = output or _default_output(input, "safetensors")
    _check_json_stdout(output, as_json)
    if checkpoint is not None:
        checkpoints.check_checkpoint_path(checkpoint, (input, output))
    check_target(output, force, (input,))
    signal = signals.read_signal(input, input_format, as_kind)
    apply_threads(choose_threads(threads))
    try:
        with EncodeProgress(err, enabled=not quiet) as bar:
            inr = api.encode(signal, options, on_step=bar.update)
    except KeyboardInterrupt as exc:
        if checkpoint is None or not Path(checkpoint).exists():
            raise
        fail(err, f"interrupted; no output written; progress is saved in {checkpoint} (run the same command to resume)",
              143 if isinstance(exc, Terminated) else 130)
    size = fileformat.save_to(inr, output, force, (input,))
    if checkpoint is not None:  # the output holds the result now; the training state has done its job
        Path(checkpoint).unlink(missing_ok=True)
    summary = {"output": output, "input": input, **api.encode_summary(inr, size)}
    if as_json:
        emit_json(summary)
    if not quiet:
        err.print(encode_line(summary, api.kind_of(inr)), markup=False)
        if "warning" in summary:
            err.print(f"inr: warning: {summary['warning']}", markup=False, soft_wrap=True)


def _encode_dataset(inputs: list[str], output: Optional[str], options, shard: tuple, jobs: int, where: tuple,
                    force: bool, quiet: bool, as_json: bool) -> None:
    """``--batch``: a dataset of INRs (:mod:`inrcli.cli_dataset`); exit code 1 if any input failed."""
    cli_dataset = importlib.import_module("inrcli.cli_dataset")
    settings = cli_dataset.dataset.ShardSettings(options, *shard)
    if cli_dataset.encode(inputs, output, settings, jobs, *where, err, force, quiet, as_json):
        raise typer.Exit(1)


def _encode_many(inputs: list[str], output: Optional[str], options, how: tuple, reading: tuple, force: bool,
                 quiet: bool, as_json: bool) -> None:
    """Several inputs into the directory ``output``: one result (and JSON line) per file; a file
    that fails is reported and the others go on; the exit code says whether any failed.  Many
    small files are fitted together (the same weights to rounding, sooner) unless ``--no-batch``."""
    jobs, threads, fit_together = how
    if output is None:
        raise UsageError("with several inputs, name an output directory with -o")
    if options.checkpoint is not None:
        raise UsageError("--checkpoint takes one input")
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    planned = batch.plan_jobs(inputs, output, *reading)
    for job in planned:  # before any work: an existing output would be found only at the end
        check_target(job.output, force, (job.input,))
    together = fit_together is None and batch.worth_fitting_together(inputs, options, *reading)

    def report(result: dict) -> None:
        bar.advance()
        if as_json:
            emit_json(result)
        if result["status"] != "ok":
            err.print(f"inr: error: {result['input']}: {result['error']}", markup=False, soft_wrap=True)
        elif not quiet:
            err.print(encode_line(result, api.kind_of(result["modality"])), markup=False)
            if "warning" in result:
                err.print(f"inr: warning: {result['input']}: {result['warning']}", markup=False, soft_wrap=True)

    with FilesProgress(err, len(planned), enabled=not quiet) as bar:
        if together:
            results = batch.encode_together(planned, options, jobs or default_workers(), threads, report)
        else:
            workers = min(jobs or 1, len(planned))
            results = batch.encode_many(planned, options, force, workers, choose_threads(threads, workers), report)
    failed = sum(result["status"] != "ok" for result in results)
    if not quiet:
        err.print(f"{len(results) - failed} of {len(results)} files encoded", markup=False)
    if failed:
        raise typer.Exit(1)


@app.command()
@command
def decode(
    model: Annotated[str, typer.Argument(help="INR file (.safetensors), or - for stdin.")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file, format from its extension; - for stdout (with --format); frames/%04d.png for video frames.")] = None,
    scale: Annotated[Optional[float], typer.Option(help="Resolution factor (2 = twice as many samples per axis; video: spatial axes).")] = None,
    size: Annotated[Optional[str], typer.Option(help="Exact size: WxH for images and video frames, DxHxW for volumes.")] = None,
    rate: Annotated[Optional[float], typer.Option(help="Audio sample rate in Hz (same duration).")] = None,
    fps: Annotated[Optional[float], typer.Option(help="Video frame rate (same duration).")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Video frame count (same duration).")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Shapes: grid samples per axis across the whole cube for marching cubes.")] = None,
    mesh: Annotated[Optional[str], typer.Option(help="Graphs: decode onto this mesh (another discretisation of the surface) instead of the stored one.")] = None,
    at_time: Annotated[Optional[float], typer.Option("--time", help="Graphs over time: decode at this time.")] = None,
    times: Annotated[Optional[str], typer.Option(help="Graphs over time: START:STOP:COUNT times, e.g. 0:1:100 (to one .npz, or frames/%03d.npz).")] = None,
    keep_specks: Annotated[bool, typer.Option("--keep-specks", help="Shapes: keep surface pieces smaller than 1% of the largest (dropped by default).")] = False,
    member: Annotated[Optional[str], typer.Option(help="Sets: the member to decode, by name or index.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Sets: every member, to a pattern such as out/%03d.png.")] = False,
    between: Annotated[Optional[tuple[str, str]], typer.Option(help="Sets: decode between two members' codes (with --at or --steps).")] = None,
    at: Annotated[Optional[float], typer.Option(help="Sets: where between the two (0 = first, 1 = second; default 0.5).")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Sets: this many pictures from the first member to the second (a pattern, .gif or .mp4).")] = None,
    out_format: Annotated[Optional[str], typer.Option("--format", help="Output format when -o has no extension (png, jpg, wav, mp4…).")] = None,
    bit_depth: Annotated[Optional[int], typer.Option(help="Bits per channel: 8 or 16 (PNG/TIFF).")] = None,
    quality: Annotated[Optional[int], typer.Option(help="JPEG quality 1-100 (default 95); video quality 0-10 (default 8).")] = None,
    device: Device = "cpu",
    force: Force = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Decode an INR to a signal at any resolution."""
    write_options = {"bit_depth": bit_depth, "quality": quality, "keep_specks": keep_specks}
    signals.check_write_options(write_options)
    inr = api.load(model)
    choice = {"member": member, "all": every, "between": between, "at": at, "steps": steps, "fps": fps}
    if cli_sets.is_set(inr):
        plan_options = {"scale": scale, "size": size}
        return cli_sets.decode(inr, model, output, choice, plan_options, out_format, write_options, err, force, quiet,
                               as_json)
    cli_sets.refuse_set_flags(choice)
    output = output or _default_output(model, (out_format or api.kind_of(inr).default_output).lower().lstrip("."))
    _check_json_stdout(output, as_json)
    signals.output_format(inr.modality, output, out_format)  # refuse before decoding
    plan = api.plan_decode(inr, {"scale": scale, "size": size, "rate": rate, "fps": fps, "frames": frames,
                                 "resolution": resolution, "mesh": mesh, "time": at_time, "times": times})
    signals.check_outputs(inr.modality, output, plan.shape[0], force, (model,))  # every frame's name, too
    started = time.perf_counter()
    with DecodeProgress(err, enabled=not quiet and math.prod(plan.shape) > 4_000_000) as bar:
        decoded = api.decode(inr, plan, device=device, on_progress=bar.update)
    written = signals.save_signal(decoded, output, out_format, write_options, force, (model,))
    kind = api.kind_of(inr)
    summary = {"output": output, "shape": list(plan.shape), "files": len(written),
               "seconds": round(time.perf_counter() - started, 3)} | kind.rate_fields(plan.info)
    if as_json:
        emit_json(summary)
    if not quiet and output != STDIO:
        err.print(f"{model} → {output}: {kind.size_text(plan.shape)}{kind.rate_text(plan.info)} "
                  f"in {summary['seconds']:.2f} s", markup=False)


@app.command()
@command
def crop(
    model: Annotated[str, typer.Argument(help="lg-siren INR file, or - for stdin.")],
    region: Annotated[Optional[str], typer.Option(help="Partitions to keep, R0:R1,C0:C1 (half-open, grid indices of the original).")] = None,
    members: Annotated[Optional[str], typer.Option(help="Sets: members to keep, names or indices separated by ','.")] = None,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file (default: MODEL_crop.safetensors; - for stdout).")] = None,
    force: Force = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary.")] = False,
    as_json: Json = False,
) -> None:
    """Keep a block of partitions: a smaller file that decodes to that region, without retraining."""
    output = output or _default_output(model, "safetensors", "_crop")
    _check_json_stdout(output, as_json)
    check_target(output, force, (model,))
    inr = api.load(model)
    if cli_sets.is_set(inr) != (members is not None) or (members is None) == (region is None):
        raise UsageError("a set is cropped with --members, any other file with --region")
    if members is not None:
        return cli_sets.crop(inr, model, output, members, err, force, quiet, as_json)
    cropped = api.crop(inr, region)
    size = fileformat.save_to(cropped, output, force, (model,))
    described = api.describe(cropped)
    summary = {"output": output, "kept": described["kept"], "shape": described["shape"],
               "params": described["params"], "bytes": size, "original_bytes": inr.size_bytes}
    if as_json:
        emit_json(summary)
    if not quiet:
        err.print(f"{model} → {output}: kept partitions {region}, {api.kind_of(inr).size_text(cropped.signal.shape)}, "
                  f"{size:,} bytes ({100 * size / max(inr.size_bytes, 1):.0f}% of the original)", markup=False)


@app.command()
@command
def extend(
    model: Annotated[str, typer.Argument(help="lg-siren INR file to grow.")],
    signal_file: Annotated[str, typer.Argument(metavar="SIGNAL", help="The larger signal, holding the encoded one at --at.")],
    at: Annotated[str, typer.Option(help="Where the encoded signal sits in SIGNAL, in samples per axis: R,C for images, one offset for audio, F,R,C for video and volumes.")],
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Output file (default: MODEL_extended.safetensors).")] = None,
    steps: Annotated[Optional[int], typer.Option(help=f"Training steps of the new partitions (default {DEFAULT_STEPS} unless --seconds is given).")] = None,
    seconds: Seconds = None,
    lr: KindLr = None,
    seed: Annotated[int, typer.Option(help="Random seed of the new partitions' initialisation and sampling.")] = 0,
    sample_fraction: Annotated[Optional[float], typer.Option(help="Share of each new partition's samples drawn per step.")] = None,
    device: Device = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="Compute threads (default: the usable cores that are idle).")] = None,
    force: Force = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Grow an encoded signal: new partitions around the old grid, trained alone; the old region decodes as before."""
    from inrcli import extend as extension

    output = output or _default_output(model, "safetensors", "_extended")
    _check_json_stdout(output, as_json)
    check_target(output, force, (model, signal_file))
    inr = api.load(model)
    options = api.EncodeOptions(steps=steps, seconds=seconds, lr=lr, seed=seed, device=device,
                                sample_fraction=sample_fraction, dtype=inr.dtype)
    bigger = signals.read_signal(signal_file)
    offsets = extension.parse_offsets(at, len(inr.signal.full_shape))
    apply_threads(choose_threads(threads))
    with EncodeProgress(err, enabled=not quiet) as bar:
        grown, report = extension.extend(inr, bigger, offsets, options, on_step=bar.update)
    size = fileformat.save_to(grown, output, force, (model, signal_file))
    summary = {"output": output, "model": model, "signal": signal_file, **report, "bytes": size,
               "original_bytes": inr.size_bytes, "params": api.describe(grown)["params"]}
    if as_json:
        emit_json(summary)
    if not quiet:
        err.print(extend_line(summary), markup=False)


@app.command()
@command
def add(
    model: Annotated[str, typer.Argument(help="Set file (inr encode DIR/ -o set.safetensors).")],
    inputs: Annotated[list[str], typer.Argument(metavar="IMAGE...", help="Images to add (or folders of them).")],
    output: Annotated[str, typer.Option("-o", "--output", help="The grown set (a new file; the input is never overwritten).")],
    steps: Annotated[Optional[int], typer.Option(help=f"Training steps of the new codes (default {DEFAULT_STEPS} unless --seconds is given).")] = None,
    seconds: Seconds = None,
    lr: Annotated[Optional[float], typer.Option(help="Learning rate of the codes, held constant (default 0.1).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the sampling.")] = 0,
    size: Annotated[Optional[str], typer.Option(help="Resize the new images to WxH (default: the set's size).")] = None,
    device: Device = "cpu",
    force: Force = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Add images to a set: fit only their codes against the frozen shared network."""
    _check_json_stdout(output, as_json)
    options = api.EncodeOptions(steps=steps, seconds=seconds, lr=lr, seed=seed, device=device)
    cli_sets.add(model, inputs, output, options, size, err, force, quiet, as_json)


@app.command("eval")
@command
def evaluate(
    reference: Annotated[str, typer.Argument(help="Reference signal file.")],
    candidate: Annotated[str, typer.Argument(help="Candidate: a signal file or an INR file (decoded at the reference's resolution).")],
    error_map: Annotated[Optional[str], typer.Option("--error-map", help="Write a picture of the per-pixel error with the partition grid and per-partition PSNR.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing error map.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
) -> None:
    """Compare a candidate with a reference: PSNR and SSIM for images, the kind's own scores for others."""
    inr = api.load(candidate) if api.is_inr_file(candidate) else None
    if inr is not None and cli_sets.is_set(inr):
        return cli_sets.evaluate(reference, inr, as_json, err)
    ref = signals.read_signal(reference)
    if error_map is not None:
        check_target(error_map, force, (reference, candidate))
    comparison = api.compare(ref, inr if inr is not None else signals.read_signal(candidate))
    if error_map is not None:
        picture = api.error_map(comparison)
        signals.save_signal(picture, error_map, None if signals.format_of(error_map) else "png", {}, force)
    scores = comparison.scores
    if as_json:
        emit_json(scores | (api.recorded_scores(inr) if inr is not None else {}))
        return
    specs = api.kind_of(ref).metric_specs
    parts = [spec.text(scores[name]) for name, spec in specs.items() if isinstance(scores.get(name), (int, float))]
    print("  ".join(parts) + (f"  (region {scores['region']})" if "region" in scores else ""))
    err.print(scores["convention"], markup=False, style="dim")


@app.command()
@command
def view(
    files: Annotated[list[str], typer.Argument(help="INR files to show.", show_default=False)],
    original: Annotated[Optional[list[str]], typer.Option(
        "--original", help="The original image of the file in the same position, shown side by side (repeat).")] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: a free one).", min=0, max=65535)] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the address only.")] = False,
) -> None:
    """Show files in the browser, which decodes them itself (WebGL2): pan and zoom without limit, crop, listen."""
    viewer = importlib.import_module("inrcli.view")
    server = viewer.make_server(viewer.build_site(files, original or []), port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(url, flush=True)  # the ready line: scripts read the address from stdout
    err.print(f"inr view: serving {len(files)} file(s) on {url} (loopback only); Ctrl-C stops")
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    viewer.serve(server)


@app.command()
@command
def info(
    model: Annotated[str, typer.Argument(help="INR file, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Describe an INR file: kind of signal, architecture, partitions, parameters, training record."""
    data = fileformat.describe_source(model)  # the header alone: no weights read, no torch imported
    if as_json:
        emit_json(data)
        return
    print(info_text(model, data, signals.signal_kind(data["modality"])))
