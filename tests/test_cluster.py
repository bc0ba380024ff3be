"""A dataset run on a Dask cluster started here (two worker processes), one of them killed mid-shard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest

from conftest import synthetic_image

distributed = pytest.importorskip("distributed", reason="the cluster extra (pip install 'inrcli[cluster]')")


def _executing(dask_worker) -> list[str]:
    """Keys of the tasks a worker is running now (called on the worker by ``client.run``)."""
    return [str(task.key) for task in dask_worker.state.executing]


def test_killed_worker_shard_is_retried_and_nothing_is_lost_or_written_twice(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    inputs = []
    for index in range(6):
        path = data / f"img{index}.png"
        iio.imwrite(path, synthetic_image(16, 16, seed=index))
        inputs.append(str(path))
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    run = None
    try:
        client = distributed.Client(cluster)
        pids = client.run(os.getpid)
        run = subprocess.Popen([sys.executable, "-m", "inrcli", "encode", str(data), "-o", str(out), "--batch",
                                "--steps", "300", "--batch-size", "2", "--cluster", cluster.scheduler_address,
                                "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed = None
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and run.poll() is None:
            for worker, keys in client.run(_executing).items():
                if any(key.startswith("inr-shard-") for key in keys):
                    os.kill(pids[worker], signal.SIGKILL)  # mid-shard: it is fitting or writing
                    killed = worker
                    break
            time.sleep(0.05)
        assert killed is not None, "no worker was seen running a shard"
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
    finally:
        if run is not None and run.poll() is None:
            run.kill()
        cluster.close()
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(row["input"] for row in rows) == sorted(inputs)  # each input once: none lost, none twice
    assert {row["status"] for row in rows} == {"ok"}
    assert sorted(p.name for p in out.iterdir()) == sorted([f"img{i}.safetensors" for i in range(6)] + ["manifest.jsonl"])
    from inrcli import api

    for row in rows:
        assert api.load(row["output"]).training["steps"] == 300
