"""Datasets of INRs: signals fitted together (Ensemble), the manifest, resuming, shards."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from conftest import invoke, synthetic_image
from inrcli import api, dataset
from inrcli.ensemble import Ensemble
from inrcli.signals import read_signal
from inrcli.signals.base import Signal

STEPS = "30"


def _images(folder: Path, count: int, size: tuple[int, int] = (12, 16), start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"img{index:02d}.png"
        iio.imwrite(path, synthetic_image(*size, seed=index))
        paths.append(path)
    return paths


def _manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ensemble_evaluates_each_member_as_its_own_model():
    blank = Signal("image", np.zeros((12, 16, 3), np.float32))
    models = []
    for seed in range(3):  # three different initialisations of one configuration
        torch.manual_seed(seed)
        models.append(api.build_model(blank, api.EncodeOptions(params=2000)))
    coords = torch.rand(models[0].partitioning.num_slots, 7, 2) * 2 - 1
    together = Ensemble(models)(coords)
    for member, model in enumerate(models):
        assert torch.allclose(together[member], model(coords), atol=1e-5)
    other = [type(models[0]).on_partitioning(2, 3, 3000, models[0].partitioning)]
    with pytest.raises(ValueError, match="one architecture and configuration"):
        Ensemble(models + other)


@pytest.mark.parametrize("bits, arch", [(None, None), (8, None), (32, "siren")])  # 9-bit coded, 8 bits, floats
def test_fitted_together_matches_fitted_alone(tmp_path, bits, arch):
    """Same initial weights, same batches, the loss of each its own, each member rounded to its
    own grids, and one code path for one network and many (``forward_members``): a member ends
    with the weights of its own encode, whatever its group, up to the rounding of the batched
    products (often bit for bit) — which is why many small files are fitted together unasked."""
    signals = [read_signal(str(path)) for path in _images(tmp_path, 3)]
    options = api.EncodeOptions(steps=40, bits=bits, arch=arch)
    together = api.encode_together(signals, options)
    pair = api.encode_together(signals[1:], options)
    for signal, inr, other in zip(signals, together, [None, *pair]):
        alone = api.encode(signal, options)
        for name, tensor in alone.model.state_dict().items():
            assert torch.allclose(inr.model.state_dict()[name], tensor, rtol=0, atol=1e-6), name
            assert other is None or torch.allclose(other.model.state_dict()[name], tensor, rtol=0, atol=1e-6), name
        assert inr.training["psnr"] == pytest.approx(alone.training["psnr"], abs=0.01)
        assert inr.training["fitted_together"] == 3 and inr.arch == alone.arch
        assert inr.model.param_count() == alone.model.param_count() and inr.bits == alone.bits
    assert together[0].training["psnr"] != together[1].training["psnr"]  # each fitted its own signal


@pytest.mark.filterwarnings("ignore:overflow")  # the bad member's targets overflow float32 on purpose
def test_a_member_that_diverges_fails_alone():
    """One member's training diverges (its targets overflow, Adam's steps turn NaN): it is its
    error; the others, whose losses and updates are their own, are their ordinary files."""
    rng = np.random.default_rng(0)
    good = [Signal("image", rng.random((8, 10, 3)).astype(np.float32)) for _ in range(2)]
    bad = Signal("image", np.full((8, 10, 3), 3e38, np.float32))
    options = api.EncodeOptions(steps=5)
    results = api.encode_together([good[0], bad, good[1]], options)
    assert isinstance(results[1], api.InrError) and "diverged" in str(results[1])
    for signal, inr in zip(good, (results[0], results[2])):
        alone = api.encode(signal, options)
        assert inr.training["psnr"] == pytest.approx(alone.training["psnr"], abs=0.01)


def test_together_refuses_what_it_cannot_do(tmp_path):
    small, large = (read_signal(str(p)) for p in (_images(tmp_path / "a", 1)[0], _images(tmp_path / "b", 1, (8, 8))[0]))
    with pytest.raises(api.UsageError, match="one kind and shape"):
        api.encode_together([small, large], api.EncodeOptions(steps=2))
    for options, flag in ((api.EncodeOptions(steps=3, bpp=2), "--bpp"),
                          (api.EncodeOptions(steps=3, target_psnr=30), "--target-psnr")):
        with pytest.raises(api.UsageError, match=flag):
            api.encode_together([small], options)


def test_a_time_budget_is_per_signal_and_every_member_gets_the_same_steps(tmp_path):
    signals = [read_signal(str(p)) for p in _images(tmp_path, 3)]
    together = api.encode_together(signals, api.EncodeOptions(seconds=0.5, params=2000))
    steps = {inr.training["steps"] for inr in together}
    assert len(steps) == 1 and steps.pop() > 1
    for inr in together:  # each member's share of the group's 3 × 0.5 s
        assert inr.training["stopped_by"] == "seconds" and inr.elapsed == pytest.approx(0.5, abs=0.2)


def test_batch_cli_writes_a_file_per_input_and_a_manifest(runner, tmp_path):
    data = tmp_path / "data"
    _images(data / "cats", 3)
    _images(data / "dogs", 2, size=(8, 8))  # another shape: another group
    (data / "notes.txt").write_text("not a signal")  # not a signal extension: not an input
    out = tmp_path / "out"
    out.mkdir()
    result = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", STEPS, "--json")
    assert result.exit_code == 0, result.output
    rows = _manifest(out / "manifest.jsonl")
    assert sorted(Path(row["output"]).relative_to(out).as_posix() for row in rows) == [
        "cats/img00.safetensors", "cats/img01.safetensors", "cats/img02.safetensors",
        "dogs/img00.safetensors", "dogs/img01.safetensors"]
    assert {row["status"] for row in rows} == {"ok"}
    assert sorted(row["batch"] for row in rows) == [2, 2, 3, 3, 3]
    for row in rows:  # ordinary files: each loads, decodes and scores on its own as the row says
        inr = api.load(row["output"])
        scores = api.evaluate(read_signal(row["input"]), inr)
        assert scores["psnr"] == pytest.approx(row["psnr"], abs=0.01)
        assert row["steps"] == int(STEPS) and row["params"] == inr.model.param_count()["total"]
    assert [json.loads(line)["input"] for line in result.stdout.splitlines()] == [row["input"] for row in rows]
    crop = invoke(runner, "crop", out / "cats" / "img00.safetensors", "--region", "0:1,0:1", "-o", tmp_path / "c.safetensors")
    assert crop.exit_code == 0, crop.output


def test_rerun_does_only_new_and_failed_items(runner, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    _images(data, 2)
    (data / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out.mkdir()
    first = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", STEPS)
    assert first.exit_code == 1  # one item failed; the others are done
    assert "broken.png" in first.output
    rows = {Path(row["input"]).name: row for row in _manifest(out / "manifest.jsonl")}
    assert rows["broken.png"]["status"] == "failed" and rows["broken.png"]["error"]
    assert rows["img00.png"]["status"] == rows["img01.png"]["status"] == "ok"
    stamps = {path: path.stat().st_mtime_ns for path in out.glob("*.safetensors")}
    _images(data, 1, start=2)  # the folder grows
    (data / "broken.png").unlink()
    second = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", STEPS)
    assert second.exit_code == 0, second.output
    assert "2 already done" in second.output
    new_rows = _manifest(out / "manifest.jsonl")[len(rows):]
    assert [Path(row["input"]).name for row in new_rows] == ["img02.png"]
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps  # finished files untouched


def test_existing_outputs_are_not_replaced_without_force(runner, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    _images(data, 2)
    out.mkdir()
    (out / "img01.safetensors").write_bytes(b"someone else's file")
    refused = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", STEPS)
    assert refused.exit_code != 0 and "img01.safetensors exists" in refused.output
    assert not (out / "manifest.jsonl").exists()
    forced = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", STEPS, "--force")
    assert forced.exit_code == 0, forced.output
    api.load(str(out / "img01.safetensors"))


def test_batch_refusals_are_one_line(runner, tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    _images(data, 1)
    out.mkdir()
    for flags, text in ((["--target-psnr", "30"], "--target-psnr does not apply"), (["--max-bytes", "9000"], "--max-bytes"),
                        (["--batch-size", "0"], "--batch-size"), (["--cluster", "nowhere"], "scheduler address")):
        result = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", "2", *flags)
        assert result.exit_code == 2, (flags, result.output)
        assert text in result.output and "Traceback" not in result.output
    not_a_dir = invoke(runner, "encode", data, "-o", tmp_path / "x.safetensors", "--batch")
    assert not_a_dir.exit_code == 2 and "directory" in not_a_dir.output


def test_a_kind_that_cannot_be_batched_is_a_failed_row(runner, tmp_path, request):
    mesh = Path(request.config.rootpath) / "samples" / "spot.obj"
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    (data / "shape.obj").write_bytes(mesh.read_bytes())
    out.mkdir()
    result = invoke(runner, "encode", data, "-o", out, "--batch", "--steps", "2")
    assert result.exit_code == 1
    [row] = _manifest(out / "manifest.jsonl")
    assert row["status"] == "failed" and "shape or graph signals cannot be fitted together" in row["error"]


def test_a_retried_shard_adopts_what_its_first_attempt_wrote(tmp_path):
    paths = _images(tmp_path / "data", 2)
    out = tmp_path / "out"
    out.mkdir()
    items = [dataset.Item(str(path), str(out / f"{path.stem}.safetensors")) for path in paths]
    settings = dataset.ShardSettings(api.EncodeOptions(steps=20), threads=1)
    first = dataset.run_shard(items, settings)
    stamps = [Path(item.output).stat().st_mtime_ns for item in items]
    again = dataset.run_shard(items, settings)  # as if its worker had died after writing
    assert [Path(item.output).stat().st_mtime_ns for item in items] == stamps  # not written twice
    assert all(row.get("adopted") for row in again)
    assert [row["psnr"] for row in again] == pytest.approx([row["psnr"] for row in first], abs=0.01)
    replacing = [dataset.Item(item.input, item.output, replaces=True) for item in items]
    assert not any(row.get("adopted") for row in dataset.run_shard(replacing, settings))


def test_manifest_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "m.jsonl"
    output = tmp_path / "a.safetensors"
    output.write_bytes(b"x")
    path.write_text(json.dumps({"input": "a.png", "output": str(output), "status": "ok"}) + "\n"
                    + '{"input": "b.png", "outp')
    manifest = dataset.Manifest(path)
    assert manifest.done(dataset.Item("a.png", str(output)))
    assert not manifest.done(dataset.Item("b.png", str(tmp_path / "b.safetensors")))
    assert not manifest.done(dataset.Item("a.png", str(tmp_path / "elsewhere.safetensors")))


def test_fewer_members_when_memory_is_short(tmp_path, monkeypatch):
    signal = read_signal(str(_images(tmp_path, 1)[0]))
    settings = dataset.ShardSettings(api.EncodeOptions(steps=2), batch_size=64)
    footprint = api.training_footprint(signal, settings.options)
    assert footprint.samples == 12 * 16  # a signal this small trains on every sample each step
    assert footprint.bytes > footprint.kept + 2 * signal.values.size * 4  # besides its targets, weights
    monkeypatch.setattr(dataset, "available_memory", lambda device: 1 << 40)
    assert dataset.members_that_fit(signal, settings) == 64
    monkeypatch.setattr(dataset, "GROUP_KEPT_BYTES", max(footprint.kept, 1) * 5)  # a step of at most five
    assert dataset.members_that_fit(signal, settings) == 5
    monkeypatch.setattr(dataset, "GROUP_KEPT_BYTES", 1 << 40)
    monkeypatch.setattr(dataset, "available_memory", lambda device: int(footprint.bytes * 10 / dataset.MEMORY_SHARE))
    assert dataset.members_that_fit(signal, settings) == 10
    monkeypatch.setattr(dataset, "available_memory", lambda device: 0)
    assert dataset.members_that_fit(signal, settings) == 1
