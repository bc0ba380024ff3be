"""Many inputs in one encode: one output and one result per file, failures reported, others go on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from inrcli import fileformat
from inrcli.batch import plan_jobs
from inrcli.errors import UsageError
from tests.conftest import invoke, synthetic_image


def _inputs(folder: Path) -> list[Path]:
    paths = []
    for index in range(2):
        path = folder / f"img{index}.png"
        iio.imwrite(path, synthetic_image(12, 14, seed=index))
        paths.append(path)
    broken = folder / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return paths + [broken]


def test_two_workers_encode_every_good_file_and_report_the_bad_one(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    sources = _inputs(tmp_path)
    done = subprocess.run([sys.executable, "-m", "inrcli", "encode", *map(str, sources), "-o", str(out), "-j", "2",
                           "--steps", "5", "--params", "2000", "--json", "-q"], capture_output=True, timeout=300)
    assert done.returncode == 1, done.stderr  # one file failed
    results = {Path(r["input"]).name: r for r in map(json.loads, done.stdout.decode().splitlines())}
    assert set(results) == {"img0.png", "img1.png", "broken.png"}
    assert results["broken.png"]["status"] == "failed" and "cannot read image" in results["broken.png"]["error"]
    for name in ("img0", "img1"):
        assert results[f"{name}.png"]["status"] == "ok" and results[f"{name}.png"]["steps"] == 5
        assert fileformat.load(out / f"{name}.safetensors").signal.shape == (12, 14)
    errors = [line for line in done.stderr.decode().splitlines() if line.startswith("inr: error:")]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["img0.safetensors", "img1.safetensors"]  # no temporaries


def test_one_process_runs_the_files_in_turn_and_a_directory_output_works_for_one_input(runner, tmp_path: Path):
    sources = _inputs(tmp_path)[:2]
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(runner, "encode", *sources, "-o", out, "--steps", "3", "--params", "2000", "-q")
    assert result.exit_code == 0, result.stderr
    result = invoke(runner, "encode", sources[0], "-o", out, "--steps", "3", "--params", "2000", "-q")
    assert result.exit_code == 1 and "exists" in result.stderr  # refused before any work
    result = invoke(runner, "encode", sources[0], "-o", out, "--steps", "3", "--params", "2000", "-q", "--force")
    assert result.exit_code == 0 and (out / "img0.safetensors").exists()


def test_plans_that_cannot_work_are_refused(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(UsageError, match="both be written"):
        plan_jobs([str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")], str(tmp_path), None, None)
    with pytest.raises(UsageError, match="standard input"):
        plan_jobs(["-", "x.png"], str(tmp_path), None, None)
    with pytest.raises(UsageError, match="existing directory"):
        plan_jobs(["x.png", "y.png"], str(tmp_path / "nowhere"), None, None)
    jobs = plan_jobs(["scan.nii.gz", "photo.v2.png"], str(tmp_path), None, None)
    assert [Path(job.output).name for job in jobs] == ["scan.safetensors", "photo.v2.safetensors"]
