"""Issue 17 figures: held-out nodes, transfer to a finer mesh, signals over time, and the
k × Laplacian ablation, each beside the baseline it has to beat, in one run.

Usage: python bench/graph_issue17.py [--steps 3000] [--ablation-steps 1000] [--bunny-steps 2000]
                                    [--jobs 2] [--json out.json]

Data: ../shared/data/graphs (spot_grayscott_coarse/fine/time.npz, bunny_res2_grayscott.npz).
Every figure comes from a fixed number of training steps (seed 0, one compute thread per
task), so it does not depend on the machine's load; tasks run ``--jobs`` at a time.

Baselines (same run, same held-out nodes):
* harmonic interpolation: the unknown nodes' values solve the graph Laplace equation
  ``(D − A) x = 0`` with the known nodes' values fixed (scipy.sparse, a direct solve);
* linear interpolation in time between the neighbouring training snapshots (the last odd
  snapshot, after the last even one, keeps the last even one's values).

Held-out nodes are the ones ``inr encode --holdout 0.1`` leaves out: the first 10% of a random
order of the nodes (numpy's default_rng(seed).permutation), the rule of
``inrcli.signals.graph.EmbeddingSampler``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "graphs"
COARSE, FINE, TIMES, BUNNY = (DATA / f"{name}.npz" for name in
                              ("spot_grayscott_coarse", "spot_grayscott_fine", "spot_grayscott_time",
                               "bunny_res2_grayscott"))
HOLDOUT = 0.1


def r2(reference: np.ndarray, candidate: np.ndarray) -> float:
    """1 − Σ(ref − cand)² / Σ(ref − mean)², over every value."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    return float(1 - np.sum((reference - candidate) ** 2) / np.sum((reference - reference.mean()) ** 2))


def held_out_nodes(nodes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) node indices of ``--holdout 0.1`` with ``--seed seed``."""
    order = np.random.default_rng(seed).permutation(nodes)
    held = np.sort(order[: int(round(HOLDOUT * nodes))])
    return held, np.setdiff1d(np.arange(nodes), held)


def harmonic(path: Path, values: np.ndarray, known: np.ndarray, nodes: int | None = None) -> np.ndarray:
    """Harmonic interpolation on the mesh in ``path``: ``(n,)`` values, ``values`` at ``known``."""
    import scipy.sparse.linalg as sla

    from inrcli.signals.graph_spectral import combinatorial_laplacian, edge_list

    with np.load(path) as data:
        faces = data["faces"]
        nodes = nodes or len(data["points"])
    laplacian, _ = combinatorial_laplacian(nodes, edge_list(faces, None))
    unknown = np.setdiff1d(np.arange(nodes), known)
    out = np.zeros(nodes)
    out[known] = values
    out[unknown] = sla.spsolve(laplacian[unknown][:, unknown].tocsc(), -laplacian[unknown][:, known] @ values)
    return out


def _encode(path: Path, steps: int, kind_options: dict):
    """Encode through the library as ``inr encode`` does; the file as stored, re-read, and its size."""
    import torch

    from inrcli import api, fileformat
    from inrcli.signals import read_signal

    signal = read_signal(str(path))
    started = time.perf_counter()
    inr = api.encode(signal, api.EncodeOptions(steps=steps, kind_options=kind_options))
    data = fileformat.to_bytes(inr)
    return signal, fileformat.from_bytes(data), len(data), round(time.perf_counter() - started, 1)


def _decode_on(stored, mesh_path: Path) -> np.ndarray:
    """``inr decode --mesh mesh_path``: values ``(n,)`` (one channel)."""
    from inrcli import api

    return api.decode(stored, api.plan_decode(stored, {"mesh": str(mesh_path)})).values[:, 0]


def spot_task(steps: int, holdout: float, k=None, laplacian: str | None = None) -> dict:
    """Train on the coarse spot mesh; R² on its training and held-out nodes and on every fine vertex."""
    options = {"holdout": holdout} | ({"k": k} if k is not None else {}) | (
        {"laplacian": laplacian} if laplacian else {})
    signal, stored, size, seconds = _encode(COARSE, steps, options)
    target = signal.values[:, 0]
    coarse = _decode_on(stored, COARSE)
    with np.load(FINE) as data:
        fine_target = data["target"][:, 0]
    held, train = held_out_nodes(len(target)) if holdout else (np.array([], int), np.arange(len(target)))
    info = stored.signal.info
    return {"k": info["k"], "laplacian": info["laplacian"], "holdout": holdout, "steps": stored.training["steps"],
            "search": stored.training.get("search"), "train_r2": r2(target[train], coarse[train]),
            "held_out_r2": r2(target[held], coarse[held]) if len(held) else None,
            "transfer_r2": r2(fine_target, _decode_on(stored, FINE)), "file_bytes": size, "seconds": seconds}


def time_task(steps: int, scratch: str) -> dict:
    """Train on the even snapshots; R² on the odd ones (``inr eval odd.npz model``)."""
    from inrcli import api
    from inrcli.signals import read_signal

    with np.load(TIMES) as data:
        arrays = {key: data[key] for key in data.files}
    paths = {}
    for name, part in (("even", slice(0, None, 2)), ("odd", slice(1, None, 2))):
        paths[name] = Path(scratch) / f"spot_time_{name}.npz"
        np.savez(paths[name], points=arrays["points"], faces=arrays["faces"], target=arrays["target"][part],
                 time=arrays["time"][part])
    signal, stored, size, seconds = _encode(paths["even"], steps, {})
    scores = api.evaluate(read_signal(str(paths["odd"])), stored)
    return {"k": stored.signal.info["k"], "steps": stored.training["steps"], "search": stored.training.get("search"),
            "train_r2": stored.training["r2"], "odd_r2": scores["r2"], "odd_mse": scores["mse"],
            "file_bytes": size, "seconds": seconds}


def bunny_task(steps: int) -> dict:
    """The issue-4 signal: R² on held-back nodes, beside harmonic interpolation's."""
    signal, stored, size, seconds = _encode(BUNNY, steps, {"holdout": HOLDOUT})
    from inrcli import api

    target, decoded = signal.values[:, 0], api.decode(stored).values[:, 0]
    held, train = held_out_nodes(len(target))
    return {"k": stored.signal.info["k"], "laplacian": stored.signal.info["laplacian"],
            "steps": stored.training["steps"], "train_r2": r2(target[train], decoded[train]),
            "held_out_r2": r2(target[held], decoded[held]), "file_bytes": size, "seconds": seconds}


def baselines() -> dict:
    """Harmonic interpolation on spot (held-out coarse nodes; fine from coarse) and bunny, and
    linear interpolation in time."""
    out = {}
    with np.load(COARSE) as data:
        coarse = data["target"][:, 0].astype(np.float64)
    held, train = held_out_nodes(len(coarse))
    out["spot_held_out_r2"] = r2(coarse[held], harmonic(COARSE, coarse[train], train)[held])
    with np.load(FINE) as data:
        fine = data["target"][:, 0]
    out["spot_transfer_r2"] = r2(fine, harmonic(FINE, coarse, np.arange(len(coarse))))
    with np.load(BUNNY) as data:
        bunny = data["target"][:, 0].astype(np.float64)
    held, train = held_out_nodes(len(bunny))
    out["bunny_held_out_r2"] = r2(bunny[held], harmonic(BUNNY, bunny[train], train)[held])
    with np.load(TIMES) as data:
        series, times = data["target"].astype(np.float64), data["time"].astype(np.float64)
    even, odd = np.arange(0, len(times), 2), np.arange(1, len(times), 2)
    interpolated = np.stack([np.array([np.interp(t, times[even], series[even, i]) for i in range(series.shape[1])])
                             for t in times[odd]])
    out["time_odd_r2"] = r2(series[odd], interpolated)
    return out


def _set_threads(count: int) -> None:
    import torch

    torch.set_num_threads(count)


def machine(threads: int) -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, torch {torch.__version__}, " \
           f"{threads} thread(s) per task"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps of the headline and time runs")
    parser.add_argument("--bunny-steps", type=int, default=2000)
    parser.add_argument("--ablation-steps", type=int, default=1000, help="steps of each ablation run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="compute threads per task (figures do not depend "
                                                                 "on it: fixed steps, same bytes)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--only", nargs="*", default=None, help="run only these tasks (names as printed)")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"shared data not found at {DATA}")
    import tempfile

    scratch = tempfile.mkdtemp()
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, initializer=_set_threads, initargs=(args.threads,)) as pool:
        tasks = {"headline (holdout 0.1)": (spot_task, args.steps, HOLDOUT),
                 "headline (all nodes)": (spot_task, args.steps, 0.0),
                 "time": (time_task, args.steps, scratch), "bunny": (bunny_task, args.bunny_steps)}
        for laplacian in ("combinatorial", "cotangent"):
            for k in (10, 30, 100):
                tasks[f"ablation {laplacian} k={k}"] = (spot_task, args.ablation_steps, HOLDOUT, k, laplacian)
        jobs = {name: pool.submit(*task) for name, task in tasks.items() if args.only is None or name in args.only}
        base = baselines()
        results = {"baselines": base}
        for name, job in jobs.items():
            results[name] = job.result()
            print(json.dumps({name: results[name]}), flush=True)
            if args.json:  # as it goes: a late failure keeps the figures already measured
                args.json.write_text(json.dumps(results, indent=2))
    results["machine"] = machine(args.threads)
    results["wall_seconds"] = round(time.perf_counter() - started)
    print(json.dumps(results, indent=2))
    if args.only is None:
        print(report(results, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(results: dict, args) -> str:
    """The figures as markdown tables for bench/RESULTS.md."""
    base, held, full = results["baselines"], results["headline (holdout 0.1)"], results["headline (all nodes)"]
    t, bunny = results["time"], results["bunny"]
    lines = [f"| figure ({args.steps} steps) | ours | baseline |", "|---|---|---|",
             f"| spot: R² on the 10% held-back coarse nodes (k = {held['k']}, {held['laplacian']}) | "
             f"**{held['held_out_r2']:.4f}** | harmonic {base['spot_held_out_r2']:.4f} |",
             f"| spot: R² over every fine vertex after `decode --mesh` (trained on all coarse nodes, k = {full['k']}) | "
             f"**{full['transfer_r2']:.4f}** | harmonic {base['spot_transfer_r2']:.4f} |",
             f"| spot: R² on the training nodes (all / 90%) | **{full['train_r2']:.4f}** / {held['train_r2']:.4f} | — |",
             f"| time: R² on the odd snapshots, trained on the even ones (k = {t['k']}) | **{t['odd_r2']:.4f}** | "
             f"linear in time {base['time_odd_r2']:.4f} |",
             f"| bunny ({args.bunny_steps} steps): R² on 10% held-back nodes / training nodes (k = {bunny['k']}) | "
             f"{bunny['held_out_r2']:.4f} / "
             f"{bunny['train_r2']:.4f} | harmonic {base['bunny_held_out_r2']:.4f} |", "",
             f"| Laplacian ({args.ablation_steps} steps) | k | training R² | held-out R² | transfer R² | file bytes |",
             "|---|---|---|---|---|---|"]
    for laplacian in ("combinatorial", "cotangent"):
        for k in (10, 30, 100):
            a = results[f"ablation {laplacian} k={k}"]
            lines.append(f"| {laplacian} | {k} | {a['train_r2']:.4f} | {a['held_out_r2']:.4f} | "
                         f"{a['transfer_r2']:.4f} | {a['file_bytes']:,} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
