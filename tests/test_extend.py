"""``inr extend``: new partitions around an encoded signal, trained alone; the old region decodes
exactly as before, and cropping back gives the old weights byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile
from safetensors.numpy import load_file

from tests.conftest import invoke, synthetic_image

ROOT = Path(__file__).resolve().parents[1]


def _extend(runner, model: Path, signal: Path, at: str, out: Path, *flags: str) -> dict:
    result = invoke(runner, "extend", model, signal, "--at", at, "-o", out, "--steps", "20", "--json", "-q", *flags)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> dict[str, Path]:
    """A 24×36 image, its middle 24×16 columns encoded on a 2×2 grid (pitch 12×8)."""
    from typer.testing import CliRunner

    from inrcli.cli import app

    folder = tmp_path_factory.mktemp("extend")
    full = synthetic_image(24, 36)
    iio.imwrite(folder / "full.png", full)
    iio.imwrite(folder / "part.png", full[:, 10:26])
    model = folder / "part.safetensors"
    result = CliRunner().invoke(app, ["encode", str(folder / "part.png"), "-o", str(model), "--steps", "30",
                                      "--partitions", "2,2", "--params", "3000", "-q"])
    assert result.exit_code == 0, result.stderr
    return {"folder": folder, "full": folder / "full.png", "model": model}


def test_the_old_region_decodes_exactly_and_new_partitions_follow_the_pitch(runner, photo, tmp_path: Path):
    out = tmp_path / "grown.safetensors"
    report = _extend(runner, photo["model"], photo["full"], "0,10", out)
    assert report["partitions"] == [2, 6] and report["added_partitions"] == 8  # 10 columns each side: 2 of 5
    before, after = (json.loads(invoke(runner, "info", m, "--json").stdout)["param_counts"] for m in (photo["model"], out))
    assert after["total"] - before["total"] == 8 * before["per_partition"]  # the file grows by the new networks
    assert invoke(runner, "decode", photo["model"], "-o", tmp_path / "old.png", "-q").exit_code == 0
    assert invoke(runner, "decode", out, "-o", tmp_path / "new.png", "-q").exit_code == 0
    old, new = iio.imread(tmp_path / "old.png"), iio.imread(tmp_path / "new.png")
    assert new.shape == (24, 36, 3) and np.array_equal(new[:, 10:26], old)


def test_cropping_back_gives_the_old_weights_byte_for_byte(runner, photo, tmp_path: Path):
    out = tmp_path / "grown.safetensors"
    _extend(runner, photo["model"], photo["full"], "0,10", out)
    back = tmp_path / "back.safetensors"
    assert invoke(runner, "crop", out, "--region", "0:2,2:4", "-o", back, "-q").exit_code == 0
    old, cropped = load_file(photo["model"]), load_file(back)
    assert old.keys() == cropped.keys()
    assert all(old[name].tobytes() == cropped[name].tobytes() for name in old)


def test_the_reference_decoder_reads_the_grown_frame(runner, photo, tmp_path: Path):
    out = tmp_path / "grown.safetensors"
    _extend(runner, photo["model"], photo["full"], "0,10", out)
    model = json.loads(invoke(runner, "info", out, "--json").stdout)
    assert model["config"]["hidden_layers"] == 3
    spec = importlib.util.spec_from_file_location("ref", ROOT / "docs" / "reference_decoder.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    assert invoke(runner, "decode", out, "-o", tmp_path / "new.png", "-q").exit_code == 0
    difference = reference.decode(str(out)).astype(int) - iio.imread(tmp_path / "new.png")
    assert np.abs(difference).max() <= 1


def test_audio_keeps_its_samples_exactly(runner, tmp_path: Path):
    tone = (0.5 * np.sin(np.arange(1200) / 6.0) * np.linspace(0.2, 1, 1200)).astype(np.float32)
    soundfile.write(str(tmp_path / "long.wav"), tone, 8000, subtype="FLOAT")
    soundfile.write(str(tmp_path / "part.wav"), tone[300:700], 8000, subtype="FLOAT")
    model = tmp_path / "part.safetensors"
    assert invoke(runner, "encode", tmp_path / "part.wav", "-o", model, "--steps", "20", "--partitions", "2",
                  "--params", "2000", "-q").exit_code == 0
    out = tmp_path / "long.safetensors"
    report = _extend(runner, model, tmp_path / "long.wav", "300", out)
    assert report["partitions"] == [7]  # 300 before (2 of 150), 2 old, 500 after (3 of ~167): pitch 200
    assert invoke(runner, "decode", model, "-o", tmp_path / "old.wav", "-q").exit_code == 0
    assert invoke(runner, "decode", out, "-o", tmp_path / "new.wav", "-q").exit_code == 0
    old, _ = soundfile.read(str(tmp_path / "old.wav"), dtype="float32")
    new, _ = soundfile.read(str(tmp_path / "new.wav"), dtype="float32")
    assert len(new) == 1200 and np.array_equal(new[300:700], old)


def test_video_and_volumes_take_three_offsets(runner, tmp_path: Path):
    z, y, x = np.mgrid[0:8, 0:10, 0:12]
    volume = (np.sin(z / 2 + y / 3) * 50 + x * 4).astype(np.float32)
    np.save(tmp_path / "whole.npy", volume)
    np.save(tmp_path / "part.npy", volume[2:6, 0:10, 3:9])
    model = tmp_path / "part.safetensors"
    assert invoke(runner, "encode", tmp_path / "part.npy", "-o", model, "--steps", "20", "--partitions", "2,1,2",
                  "--params", "4000", "-q").exit_code == 0
    out = tmp_path / "whole.safetensors"
    report = _extend(runner, model, tmp_path / "whole.npy", "2,0,3", out)
    assert report["partitions"] == [4, 1, 4]
    assert invoke(runner, "decode", model, "-o", tmp_path / "old.npy", "-q").exit_code == 0
    assert invoke(runner, "decode", out, "-o", tmp_path / "new.npy", "-q").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "new.npy")[2:6, 0:10, 3:9], np.load(tmp_path / "old.npy"))


@pytest.mark.parametrize("at, flags, message", [
    ("0,30", [], "do not fit inside"),
    ("0", [], "--at needs 2 offset(s)"),
    ("a,b", [], "expected 2 whole number(s)"),
    ("0,10", ["--steps", "0"], "--steps must be positive"),
])
def test_bad_requests_are_one_line(runner, photo, tmp_path: Path, at, flags, message):
    result = invoke(runner, "extend", photo["model"], photo["full"], "--at", at, "-o", tmp_path / "x.safetensors",
                    "--steps", "5", *flags)
    assert result.exit_code != 0 and message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_files_that_cannot_grow_are_refused(runner, photo, tmp_path: Path):
    siren = tmp_path / "siren.safetensors"
    assert invoke(runner, "encode", photo["folder"] / "part.png", "-o", siren, "--arch", "siren", "--steps", "5",
                  "--params", "800", "-q").exit_code == 0
    result = invoke(runner, "extend", siren, photo["full"], "--at", "0,10", "-o", tmp_path / "x.safetensors")
    assert result.exit_code != 0 and "has no partitions to extend" in result.stderr
    cropped = tmp_path / "cropped.safetensors"
    assert invoke(runner, "crop", photo["model"], "--region", "0:1,0:2", "-o", cropped, "-q").exit_code == 0
    result = invoke(runner, "extend", cropped, photo["full"], "--at", "0,10", "-o", tmp_path / "x.safetensors")
    assert result.exit_code != 0 and "cropped file cannot be extended" in result.stderr
    grey = tmp_path / "grey.png"
    iio.imwrite(grey, synthetic_image(24, 36, channels=1)[..., 0])
    result = invoke(runner, "extend", photo["model"], grey, "--at", "0,10", "-o", tmp_path / "x.safetensors")
    assert result.exit_code != 0 and "1 channels; the file has 3" in result.stderr
    result = invoke(runner, "extend", photo["model"], photo["folder"] / "part.png", "--at", "0,0",
                    "-o", tmp_path / "x.safetensors")
    assert result.exit_code != 0 and "nothing to extend" in result.stderr
