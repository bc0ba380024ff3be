"""Issue 16: datasets of INRs — items per minute of a shell loop, ``inr encode -j 2 --no-batch``,
a plain ``inr encode FILES -o DIR`` (small files fitted together unasked) and the vectorised
fitter (``--batch``), here and on a local two-worker Dask cluster, at the same steps.

    python bench/dataset_issue16.py [--work DIR] [--steps 100] [--shell-items 20] [--jobs-items 100]

Run it on an otherwise idle machine: every figure is a wall-clock time.  Each row runs once.
The shell loop and ``-j 2`` run on the first items of a dataset (their rate is per item and does
not change along it; a full shell loop over 2,000 crops would take four hours); the vectorised
fitter runs on the whole dataset.  Mean PSNRs are compared on the items both sides fitted.
Writes bench/dataset_issue16.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
INR = [sys.executable, "-m", "inrcli"]


def run(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {shlex.join(command)}\n{done.stderr[-2000:]}")
    return seconds, done


def manifest_psnr(folder: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert len({row["input"] for row in rows}) == len(rows), "an input appears twice in the manifest"
    return {Path(row["input"]).name: row["psnr"] for row in rows if row["status"] == "ok"}


def json_psnr(stdout: str) -> dict[str, float]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {Path(row["input"]).name: row["psnr"] for row in rows}


def shell_loop(files: list[Path], out: Path, steps: int) -> tuple[float, dict]:
    """``for f in …; do inr encode "$f" …; done``, literally, through bash."""
    out.mkdir(parents=True, exist_ok=True)
    inr = shlex.join(INR)
    script = (f'for f in {" ".join(shlex.quote(str(f)) for f in files)}; do '
              f'{inr} encode "$f" -o {shlex.quote(str(out))}/"$(basename "$f" .png)".safetensors '
              f'--steps {steps} --quiet --json || exit 1; done')
    seconds, done = run(["bash", "-c", script])
    return seconds, json_psnr(done.stdout)


def many_jobs(files: list[Path], out: Path, steps: int, jobs: int) -> tuple[float, dict]:
    """``inr encode FILES -o DIR -j N --no-batch``: one encode per file, in N worker processes."""
    out.mkdir(parents=True, exist_ok=True)
    seconds, done = run(INR + ["encode", *map(str, files), "-o", str(out), "--steps", str(steps), "-j", str(jobs),
                               "--no-batch", "--quiet", "--json"])
    return seconds, json_psnr(done.stdout)


def plain_many(files: list[Path], out: Path, steps: int) -> tuple[float, dict]:
    """``inr encode FILES -o DIR``, no flags: many small files are fitted together unasked."""
    out.mkdir(parents=True, exist_ok=True)
    seconds, done = run(INR + ["encode", *map(str, files), "-o", str(out), "--steps", str(steps), "--quiet", "--json"])
    return seconds, json_psnr(done.stdout)


def batched(folder: Path, out: Path, steps: int, *extra: str) -> tuple[float, dict]:
    out.mkdir(parents=True, exist_ok=True)
    seconds, _ = run(INR + ["encode", str(folder), "-o", str(out), "--batch", "--steps", str(steps), "--quiet", *extra])
    return seconds, manifest_psnr(out)


def cluster_with_a_kill(folder: Path, out: Path, steps: int, batch_size: int) -> dict:
    """A run on a local two-worker cluster started here, one worker SIGKILLed while it fits a shard."""
    import distributed

    out.mkdir(parents=True, exist_ok=True)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        client = distributed.Client(cluster)
        pids = client.run(os.getpid)
        start = time.perf_counter()
        process = subprocess.Popen(INR + ["encode", str(folder), "-o", str(out), "--batch", "--steps", str(steps),
                                          "--batch-size", str(batch_size), "--cluster", cluster.scheduler_address,
                                          "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed_at = None
        while killed_at is None and process.poll() is None:
            running = client.run(lambda dask_worker: [str(t.key) for t in dask_worker.state.executing])
            busy = [worker for worker, keys in running.items() if any(k.startswith("inr-shard-") for k in keys)]
            if busy and time.perf_counter() - start > 20:  # well into the run
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed_at = time.perf_counter() - start
            time.sleep(0.2)
        _, stderr = process.communicate()
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            raise SystemExit(f"cluster run failed: {stderr[-2000:]}")
    finally:
        cluster.close()
    psnr = manifest_psnr(out)
    files = sorted(folder.glob("*.png"))
    written = sorted(out.glob("*.safetensors"))
    return {"items": len(files), "seconds": round(seconds, 1), "killed_at_s": round(killed_at or -1, 1),
            "manifest_rows_ok": len(psnr), "outputs": len(written), "leftover_temp_files": len(list(out.glob(".*"))),
            "items_per_min": round(len(files) / seconds * 60, 1)}


def _stored_psnr(folder: Path) -> dict[str, float]:
    """The PSNR each file of an earlier run recorded (what its encode printed)."""
    from inrcli import api

    return {p.name.replace(".safetensors", ".png"): api.load(str(p)).training["psnr"] for p in folder.glob("*.safetensors")}


def rate(items: int, seconds: float) -> float:
    return round(items / seconds * 60, 1)


def mean_on(psnr: dict[str, float], names: list[str]) -> float:
    return round(statistics.fmean(psnr[name] for name in names), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/inr-issue16"))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--shell-items", type=int, default=20)
    parser.add_argument("--jobs-items", type=int, default=100)
    parser.add_argument("--only", choices=["crops32", "crops64", "cluster"], nargs="*")
    parser.add_argument("--batch-only", action="store_true",
                        help="rerun only the vectorised rows, keeping the shell loop and -j 2 figures already in the JSON")
    args = parser.parse_args()
    work = args.work
    if not (work / "crops32").is_dir():
        subprocess.run([sys.executable, str(HERE / "make_crops.py"), str(work)], check=True)
    results, target = {}, HERE / "dataset_issue16.json"
    if target.exists():
        results = json.loads(target.read_text())
    for name in ("crops32", "crops64"):
        if args.only and name not in args.only:
            continue
        folder = work / name
        files = sorted(folder.glob("*.png"))
        runs = work / "runs" / name
        shell_files, jobs_files = files[:args.shell_items], files[:args.jobs_items]
        if args.batch_only:  # the baselines' rows and PSNRs from the earlier run
            subprocess.run(["rm", "-rf", str(runs / "batch")], check=True)
            earlier = results[name]
            shell_s, jobs_s = earlier["shell_loop"]["seconds"], earlier["jobs_2"]["seconds"]
            shell_psnr, jobs_psnr = _stored_psnr(runs / "shell"), _stored_psnr(runs / "jobs2")
        else:
            subprocess.run(["rm", "-rf", str(runs)], check=True)
            shell_s, shell_psnr = shell_loop(shell_files, runs / "shell", args.steps)
            jobs_s, jobs_psnr = many_jobs(jobs_files, runs / "jobs2", args.steps, 2)
        plain_s, plain_psnr = plain_many(jobs_files, runs / "plain", args.steps)
        batch_s, batch_psnr = batched(folder, runs / "batch", args.steps)
        common = [f.name for f in shell_files]
        row = {"items": len(files), "steps": args.steps,
               "shell_loop": {"items": len(shell_files), "seconds": round(shell_s, 1),
                              "items_per_min": rate(len(shell_files), shell_s)},
               "jobs_2": {"items": len(jobs_files), "seconds": round(jobs_s, 1), "items_per_min": rate(len(jobs_files), jobs_s)},
               "plain_many": {"items": len(plain_psnr), "seconds": round(plain_s, 1),
                              "items_per_min": rate(len(plain_psnr), plain_s)},
               "batch": {"items": len(batch_psnr), "seconds": round(batch_s, 1), "items_per_min": rate(len(batch_psnr), batch_s),
                         "mean_psnr_all": round(statistics.fmean(batch_psnr.values()), 3)},
               "mean_psnr_on_shell_items": {"shell_loop": mean_on(shell_psnr, common), "batch": mean_on(batch_psnr, common)},
               "mean_psnr_on_jobs_items": {"jobs_2": mean_on(jobs_psnr, [f.name for f in jobs_files]),
                                           "plain_many": mean_on(plain_psnr, [f.name for f in jobs_files]),
                                           "batch": mean_on(batch_psnr, [f.name for f in jobs_files])}}
        row["speedup_vs_shell"] = round(row["batch"]["items_per_min"] / row["shell_loop"]["items_per_min"], 1)
        row["speedup_vs_jobs_2"] = round(row["batch"]["items_per_min"] / row["jobs_2"]["items_per_min"], 1)
        results[name] = row
        target.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(row, indent=2), flush=True)
    if not args.only or "cluster" in args.only:
        folder = work / "crops32"
        runs = work / "runs" / "cluster"
        subprocess.run(["rm", "-rf", str(runs)], check=True)
        clean_s, clean_psnr = batched(folder, runs / "clean", args.steps, "--cluster", "local:2")
        results["cluster_local_2"] = {"items": len(clean_psnr), "seconds": round(clean_s, 1),
                                      "items_per_min": rate(len(clean_psnr), clean_s),
                                      "mean_psnr_all": round(statistics.fmean(clean_psnr.values()), 3),
                                      "killed_worker_run_crops64": cluster_with_a_kill(work / "crops64", runs / "killed",
                                                                                       args.steps, 64)}
        target.write_text(json.dumps(results, indent=2) + "\n")
        print("cluster", json.dumps(results["cluster_local_2"], indent=2), flush=True)


if __name__ == "__main__":
    main()
