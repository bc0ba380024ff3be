"""What ``inr encode``, ``decode``, ``crop``, ``eval`` and ``add`` do with a set of images
(:mod:`inrcli.collection`): turn parsed flags into library calls and render the results.

No torch at import: the library is reached lazily, so ``inr --help`` stays fast.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

from rich.console import Console

from inrcli.errors import UsageError
from inrcli.files import STDIO, check_target
from inrcli.render import EncodeProgress, emit_json
from inrcli.threads import apply_threads, choose_threads

SET_OUTPUTS = (".safetensors", ".inr")


def _library():
    return importlib.import_module("inrcli.collection")


def is_set(inr) -> bool:
    """Whether a loaded file is a set (its model holds a code per member)."""
    from inrcli.models import is_membered

    return is_membered(inr.model)


def wants_set(inputs: list[str], output: str | None, forced: bool) -> bool:
    """Whether an encode makes a set: ``--set``, or several files (or a folder of named, not
    numbered, pictures) into one ``.safetensors`` file.  A folder of numbered frames (``0001.png``
    …) stays a video, and several inputs into a directory stay one file each."""
    into_one_file = output is not None and Path(output).suffix.lower() in SET_OUTPUTS and not Path(output).is_dir()
    if forced:
        if not into_one_file:
            raise UsageError("--set writes one file: name it with -o SET.safetensors")
        return True
    if not into_one_file:
        return False
    return len(inputs) > 1 or (inputs[0] != STDIO and Path(inputs[0]).is_dir() and not _numbered(Path(inputs[0])))


def _numbered(folder: Path) -> bool:
    """Whether every file in ``folder`` is named by a number (the frames of a video)."""
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return bool(files) and all(p.stem.isdigit() for p in files)


def parse_size(size: str | None) -> tuple[int, int] | None:
    from inrcli.signals.base import parse_size as parse

    return parse(size, 2)


def encode(inputs: list[str], output: str, options, set_options, size: str | None, threads: int | None,
           err: Console, force: bool, quiet: bool, as_json: bool) -> None:
    """``inr encode A B … -o set.safetensors``: one network for all, a code per image."""
    from inrcli import api, fileformat

    library = _library()
    sources = tuple(str(p) for p in library.expand_inputs(inputs))
    check_target(output, force, sources)
    names, images = library.read_members(inputs, parse_size(size))
    apply_threads(choose_threads(threads))
    with EncodeProgress(err, enabled=not quiet) as bar:
        inr = library.encode_set(names, images, options, set_options, on_step=bar.update)
    written = fileformat.save_to(inr, output, force, sources)
    config = inr.model.config
    headline = api.kind_of(inr).headline
    summary = {"output": output, "members": len(names), "shape": list(inr.signal.shape), "arch": inr.arch,
               "conditioning": config.conditioning, "code_dim": config.code_dim,
               **({"code_grid": list(config.code_grid)} if config.code_grid else {}), "params": config.param_count(),
               "steps": inr.training["steps"], "seconds": round(inr.elapsed, 3), headline: inr.training[headline],
               f"worst_{headline}": inr.training[f"worst_{headline}"], "bytes": written}
    if as_json:
        emit_json(summary)
    if not quiet:
        spec = api.kind_of(inr).metric_specs[headline]
        err.print(f"{len(names)} signals → {output}: mean {spec.text(summary[headline])} (worst "
                  f"{spec.text(summary[f'worst_{headline}'])}), {config.param_count()['total']:,} params, {written:,} bytes, "
                  f"{summary['steps']} steps in {summary['seconds']:.1f} s", markup=False)


def decode(inr, model: str, output: str | None, choice: dict, plan_options: dict, out_format: str | None,
           write_options: dict, err: Console, force: bool, quiet: bool, as_json: bool) -> None:
    """``inr decode set --member M | --all | --between A B [--at T | --steps N]``."""
    from inrcli import api, signals

    library = _library()
    picked = _picked(library, inr, choice)
    if output is None:
        raise UsageError("name the output with -o (a pattern such as out/%03d.png for several pictures)")
    plan = api.plan_decode(picked[0], plan_options)
    several = len(picked) > 1
    kind = signals.sequence_kind(inr.modality) if several else inr.modality
    if kind is None:
        raise UsageError(f"several {inr.modality} decodes have no file format together; decode one member at a time")
    signals.output_format(kind, output, out_format)
    signals.check_outputs(kind, output, len(picked), force, (model,))  # every name, before any work
    frames = [api.decode(view, plan).values for view in picked]
    if several:  # a sequence: numbered pictures, or one animation (10 a second unless --fps)
        import numpy as np

        info = {**plan.info, "fps": float(choice.get("fps") or 10.0)}
        info.pop("members", None)
        decoded = signals.Signal(kind, np.stack(frames), info)
    else:
        decoded = signals.Signal(kind, frames[0], dict(plan.info))
    written = signals.save_signal(decoded, output, out_format, write_options, force, (model,))
    summary = {"output": output, "files": len(written), "shape": list(plan.shape),
               "members": [library.member_names(view)[0] for view in picked]}
    if as_json:
        emit_json(summary)
    if not quiet and output != STDIO:
        err.print(f"{model} → {output}: {len(picked)} picture{'s' if several else ''} of "
                  f"{plan.shape[1]}×{plan.shape[0]} in {len(written)} file{'s' if len(written) != 1 else ''}",
                  markup=False)


def _picked(library, inr, choice: dict) -> list:
    """The views a decode's flags ask for, in order."""
    member, every, ends, at, steps = (choice.get(k) for k in ("member", "all", "between", "at", "steps"))
    if (member is not None) + bool(every) + (ends is not None) != 1:
        names = library.member_names(inr)
        raise UsageError(f"this file is a set of {len(names)} images; choose one of --member NAME|INDEX, --all, "
                         f"--between A B")
    if member is not None:
        return [library.view(inr, library.member_index(inr, member))]
    if every:
        return [library.view(inr, index) for index in range(len(library.member_names(inr)))]
    a, b = (library.member_index(inr, name) for name in ends)
    if at is not None and steps is not None:
        raise UsageError("give --at or --steps, not both")
    if steps is not None:
        if steps < 2:
            raise UsageError("--steps must be at least 2 (both ends)")
        return [library.between(inr, a, b, index / (steps - 1)) for index in range(steps)]
    t = 0.5 if at is None else at
    if not math.isfinite(t):
        raise UsageError("--at must be a finite number (0 = the first member, 1 = the second)")
    return [library.between(inr, a, b, t)]


def refuse_set_flags(choice: dict) -> None:
    """Member flags on a file that is not a set."""
    for flag, value in (("--member", choice.get("member")), ("--all", choice.get("all") or None),
                        ("--between", choice.get("between")), ("--at", choice.get("at")),
                        ("--steps", choice.get("steps"))):
        if value is not None:
            raise UsageError(f"{flag} applies to sets of images (inr encode DIR/ -o set.safetensors)")


def crop(inr, model: str, output: str, members: str, err: Console, force: bool, quiet: bool, as_json: bool) -> None:
    """``inr crop set --members A,B``: a smaller set with those members' codes only."""
    from inrcli import fileformat

    kept = _library().keep_members(inr, [m.strip() for m in members.split(",") if m.strip()])
    size = fileformat.save_to(kept, output, force, (model,))
    names = _library().member_names(kept)
    summary = {"output": output, "members": names, "params": kept.model.config.param_count(), "bytes": size,
               "original_bytes": inr.size_bytes}
    if as_json:
        emit_json(summary)
    if not quiet:
        err.print(f"{model} → {output}: kept {len(names)} of {len(_library().member_names(inr))} members, "
                  f"{size:,} bytes ({100 * size / max(inr.size_bytes, 1):.0f}% of the original)", markup=False)


def evaluate(reference: str, inr, as_json: bool, err: Console) -> None:
    """``inr eval DIR/ set``: each image against the member of its name; mean and worst."""
    library = _library()
    resized = "resized" in inr.training  # made with --size: references are resized as its members were
    names, images = library.read_members([reference], tuple(inr.signal.full_shape) if resized else None)
    scores = library.evaluate_set(inr, names, images)
    if as_json:
        emit_json(scores)
        return
    from inrcli import api

    specs = api.kind_of(inr).metric_specs
    width = max(len(name) for name in scores["members"])
    for name, member in scores["members"].items():
        print(f"{name:<{width}}  " + "  ".join(specs[metric].text(value) for metric, value in member.items()))
    means = {metric: scores[f"mean_{metric}"] for metric in specs}
    headline = api.kind_of(inr).headline
    print(f"{'mean':<{width}}  " + "  ".join(specs[metric].text(value) for metric, value in means.items())
          + f"  ({scores['count']} members; worst {scores['worst_member']}: "
          f"{specs[headline].text(scores[f'worst_{headline}'])})")


def add(model: str, inputs: list[str], output: str, options, size: str | None, err: Console, force: bool,
        quiet: bool, as_json: bool) -> None:
    """``inr add set new.png… -o set2``: fit codes for new images against the frozen network."""
    from inrcli import api, fileformat

    library = _library()
    sources = tuple(str(p) for p in library.expand_inputs(inputs))
    check_target(output, force, (model, *sources))
    inr = api.load(model)
    if not library.is_set(inr):
        raise UsageError(f"{model} is not a set (inr encode DIR/ -o set.safetensors makes one)")
    names, images = library.read_members(inputs, parse_size(size) or tuple(inr.signal.full_shape))
    apply_threads(choose_threads(None))
    with EncodeProgress(err, enabled=not quiet) as bar:
        grown, report = library.add_members(inr, names, images, options, on_step=bar.update)
    size_bytes = fileformat.save_to(grown, output, force, (model, *sources))
    summary = {"output": output, "members": len(library.member_names(grown)), **report,
               "names": names, "bytes": size_bytes, "original_bytes": inr.size_bytes}
    if as_json:
        emit_json(summary)
    if not quiet:
        spec = api.kind_of(inr).metric_specs[report["score_name"]]
        err.print(f"{model} + {len(names)} → {output}: new members' mean {spec.text(report['mean_score'])}, "
                  f"{report['steps']} steps in {report['seconds']:.1f} s, {size_bytes:,} bytes", markup=False)
