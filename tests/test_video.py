"""Video through the same commands: ffmpeg/GIF/frame-folder I/O, any size and frame rate, 3D crops."""

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from inrcli import api, fileformat
from inrcli.errors import SignalReadError
from inrcli.signals import Signal, read_signal, write_signal
from tests.conftest import DATA, invoke, needs_data


def clip(frames: int = 6, size: int = 16) -> np.ndarray:
    """A gradient sliding right over ``frames`` frames: ``(T, H, W, 3)`` uint8."""
    t, y, x = np.meshgrid(np.arange(frames), np.arange(size), np.arange(size), indexing="ij")
    planes = [0.5 + 0.4 * np.sin((x - 2 * t) / 3 + k) * np.cos(y / 5) for k in range(3)]
    return np.rint(np.stack(planes, -1) * 255).astype(np.uint8)


@pytest.fixture
def frame_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(clip()):
        iio.imwrite(folder / f"{index:03d}.png", frame)
    return folder


@pytest.fixture(scope="module")
def video_inr(tmp_path_factory) -> tuple[fileformat.InrFile, Signal]:
    folder = tmp_path_factory.mktemp("video")
    for index, frame in enumerate(clip()):
        iio.imwrite(folder / f"{index:03d}.png", frame)
    signal = read_signal(str(folder))
    return api.encode(signal, api.EncodeOptions(model_options={"partitions": (2, 2, 2)}, params=6000, steps=150,
                                                sample_fraction=0.5)), signal


def test_frame_folder_and_gif_read_as_video(frame_folder: Path, tmp_path: Path):
    signal = read_signal(str(frame_folder))
    assert signal.modality == "video" and signal.shape == (6, 16, 16) and signal.channels == 3
    iio.imwrite(tmp_path / "a.gif", clip(), extension=".gif", plugin="pillow", duration=100, loop=0)
    gif = read_signal(str(tmp_path / "a.gif"))
    assert gif.shape == (6, 16, 16) and gif.info["fps"] == pytest.approx(10)


@pytest.mark.parametrize("ext", ["mp4", "webm", "avi", "gif"])
def test_containers_round_trip(tmp_path: Path, ext: str):
    signal = Signal("video", clip(8, 32).astype(np.float32) / 255, {"fps": 10.0, "bit_depth": 8})  # GIF: 10 ms units
    write_signal(signal, tmp_path / f"a.{ext}", ext, {})
    back = read_signal(str(tmp_path / f"a.{ext}"))
    assert back.shape == (8, 32, 32) and back.info["fps"] == pytest.approx(10, abs=0.1)
    assert api.evaluate(signal, back)["psnr"] > 25  # lossy codecs, but the same pictures


def test_odd_frame_sizes_are_written_without_resizing(tmp_path: Path):
    signal = Signal("video", clip(4, 15).astype(np.float32) / 255, {"fps": 10.0})
    write_signal(signal, tmp_path / "odd.mp4", "mp4", {})
    assert read_signal(str(tmp_path / "odd.mp4")).shape == (4, 15, 15)


def test_decode_any_size_and_frame_count(video_inr):
    inr, _ = video_inr
    plan = api.plan_decode(inr, {"scale": 2, "frames": 12})
    shape, info = plan.shape, plan.info
    assert shape == (12, 32, 32) and info["fps"] == pytest.approx(2 * 25)
    plan = api.plan_decode(inr, {"size": "20x10", "fps": 50})
    shape, info = plan.shape, plan.info
    assert shape == (12, 10, 20)
    assert api.decode(inr, plan).values.shape == (12, 10, 20, 3)


def test_spatio_temporal_crop_is_exact(video_inr):
    inr, _ = video_inr
    cropped = api.crop(inr, "1:2,0:2,1:2")
    (t0, t1), (r0, r1), (c0, c1) = cropped.signal.window
    full, part = api.decode(inr).values, api.decode(cropped).values
    assert part.shape == (t1 - t0, r1 - r0, c1 - c0, 3)
    assert np.array_equal(full[t0:t1, r0:r1, c0:c1], part)
    assert cropped.model.param_count()["local"] * 4 == inr.model.param_count()["local"]


def test_eval_reports_mean_and_worst_frame(video_inr):
    inr, signal = video_inr
    scores = api.evaluate(signal, inr)
    assert {"psnr", "ssim", "worst_frame", "worst_psnr", "frames"} <= set(scores)
    assert scores["frames"] == 6 and scores["worst_psnr"] <= scores["psnr"]
    assert scores["psnr"] > 20


def test_cli_video_paths(runner, frame_folder: Path, tmp_path: Path):
    model = tmp_path / "v.safetensors"
    result = invoke(runner, "encode", frame_folder, "-o", model, "--partitions", "2,2,2", "--params", "6000",
                    "--steps", "10", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["partitions"] == [2, 2, 2]
    out = tmp_path / "v.mp4"
    assert invoke(runner, "decode", model, "-o", out, "--scale", "2", "--frames", "9", "-q").exit_code == 0
    assert read_signal(str(out)).shape == (9, 32, 32)
    frames_dir = tmp_path / "out"
    frames_dir.mkdir()
    decoded = invoke(runner, "decode", model, "-o", frames_dir / "%04d.png", "--json", "-q")
    assert decoded.exit_code == 0, decoded.stderr
    assert json.loads(decoded.stdout)["files"] == 6 and (frames_dir / "0005.png").exists()
    assert "worst_frame" in json.loads(invoke(runner, "eval", frame_folder, model, "--json").stdout)
    assert invoke(runner, "decode", model, "-o", tmp_path / "x.mp4", "--rate", "8000", "-q").exit_code == 2


@pytest.mark.parametrize("content", [b"", b"\x00\x00\x00\x18ftypmp42 corrupt data here", b"not a video"])
def test_broken_videos_are_refused(runner, tmp_path: Path, content: bytes):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    result = invoke(runner, "encode", path, "-o", tmp_path / "x.safetensors", "--steps", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("inr: error:") and "Traceback" not in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_corrupt_video_raises_signal_read_error(tmp_path: Path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(SignalReadError):
        read_signal(str(tmp_path / "bad.mp4"))


@needs_data
def test_realshort_reads_with_its_frame_rate():
    signal = read_signal(str(DATA / "video" / "realshort.mp4"))
    assert signal.shape == (36, 240, 320) and signal.info["fps"] == pytest.approx(30.02)
