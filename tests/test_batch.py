"""Many inputs in one encode: one output and one result per file, failures reported, others go on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

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


def _small_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    for index in range(count):
        iio.imwrite(folder / f"img{index:02d}.png", synthetic_image(8, 10, seed=index))
    return sorted(folder.iterdir())


def test_many_small_files_are_fitted_together_unless_told_not_to(runner, tmp_path: Path):
    """16 small files are fitted together without being asked: one result per file as before, and
    the same weights as file by file, to rounding (no manifest is written); ``--no-batch`` and quality targets
    (which a batched fit cannot honour) encode file by file."""
    sources = _small_images(tmp_path / "in", 16)
    runs = {"auto": [], "no-batch": ["--no-batch"], "sized": ["--target-psnr", "90"]}
    results = {}
    for name, flags in runs.items():
        out = tmp_path / name
        out.mkdir()
        result = invoke(runner, "encode", *sources, "-o", out, "--steps", "4", "--params", "1500", "--json", "-q",
                        "-j", "1", *flags)
        assert result.exit_code == 0, result.stderr
        results[name] = {Path(r["input"]).name: r for r in map(json.loads, result.stdout.splitlines())}
        assert sorted(p.name for p in out.iterdir()) == [f"img{i:02d}.safetensors" for i in range(16)]
    assert {r["batch"] for r in results["auto"].values()} == {16}
    assert all("batch" not in r for name in ("no-batch", "sized") for r in results[name].values())
    for index in range(16):
        auto = fileformat.load(tmp_path / "auto" / f"img{index:02d}.safetensors")
        alone = fileformat.load(tmp_path / "no-batch" / f"img{index:02d}.safetensors")
        assert auto.training["fitted_together"] == 16 and "fitted_together" not in alone.training
        for name, tensor in alone.model.state_dict().items():  # the same weights, to rounding
            assert torch.allclose(auto.model.state_dict()[name], tensor, rtol=0, atol=1e-6), name
        psnr = results["auto"][f"img{index:02d}.png"]["psnr"]
        assert psnr == pytest.approx(results["no-batch"][f"img{index:02d}.png"]["psnr"], abs=0.01)


def test_few_or_large_files_are_encoded_one_by_one(tmp_path: Path):
    from inrcli.api import EncodeOptions
    from inrcli.batch import worth_fitting_together

    small = [str(p) for p in _small_images(tmp_path / "in", 16)]
    assert worth_fitting_together(small, EncodeOptions(steps=3), None, None)
    assert not worth_fitting_together(small[:15], EncodeOptions(steps=3), None, None)
    assert not worth_fitting_together(small, EncodeOptions(steps=3, target_psnr=30), None, None)
    large = tmp_path / "large.png"
    iio.imwrite(large, synthetic_image(80, 80, seed=0))
    assert not worth_fitting_together([str(large)] + small, EncodeOptions(steps=3), None, None)
    assert not worth_fitting_together(small + ["mesh.obj"], EncodeOptions(steps=3), None, None)
