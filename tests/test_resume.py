"""Same seed and flags → the same bytes; interrupted encodes resume to exactly that file."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inrcli import api, fileformat
from inrcli.checkpoint import Checkpoint
from inrcli.errors import InrFileError
from inrcli.signals import read_signal
from tests.conftest import invoke, small_shape_fields, synthetic_image

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
TINY = ["--params", "3000", "--partitions", "2,3", "-q"]


def encode_bytes(signal, **options) -> bytes:
    return fileformat.to_bytes(api.encode(signal, api.EncodeOptions(**options)))


def test_same_seed_and_flags_give_the_same_bytes(runner, image_file: Path, tmp_path: Path):
    outs = [tmp_path / f"{name}.safetensors" for name in "abc"]
    for out, seed in zip(outs, (7, 7, 8)):
        assert invoke(runner, "encode", image_file, "-o", out, "--steps", "20", "--seed", seed, *TINY).exit_code == 0
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].read_bytes() != outs[2].read_bytes()


def _small_clip(folder: Path) -> Path:
    """Four 12×16 frames (a folder of pictures is read as a video)."""
    import imageio.v3 as iio

    for k in range(4):
        iio.imwrite(folder / f"{k}.png", synthetic_image(12, 16, seed=k))
    return folder


def _small_shape(folder: Path) -> Path:
    import trimesh

    trimesh.creation.icosphere(subdivisions=2).export(folder / "ball.obj")
    return folder / "ball.obj"


@pytest.mark.parametrize("make, options", [
    (lambda folder: SAMPLES / "chime.wav", {"params": 3000, "model_options": {"partitions": (4,)}}),
    (_small_clip, {"params": 6000, "model_options": {"partitions": (2, 2, 2)}, "sample_fraction": 0.1}),
    (_small_shape, {"params": 6000, "model_options": {"partitions": (2, 2, 2)}}),
], ids=["audio", "video", "shape"])
def test_every_modality_is_byte_reproducible(make, options: dict, tmp_path: Path):
    signal = read_signal(str(make(tmp_path)))
    with small_shape_fields():
        assert encode_bytes(signal, steps=4, **options) == encode_bytes(signal, steps=4, **options)


def interrupt_at(step: int):
    def on_step(info):
        if info.step == step:
            raise KeyboardInterrupt
    return on_step


def test_resumed_encode_equals_an_uninterrupted_one(image_file: Path, tmp_path: Path):
    signal = read_signal(str(image_file))
    plain = api.EncodeOptions(steps=30, params=3000, model_options={"partitions": (2, 3)}, seed=3)
    reference = fileformat.to_bytes(api.encode(signal, plain))
    resumable = api.EncodeOptions(**{**plain.__dict__, "checkpoint": str(tmp_path / "ck"), "checkpoint_every": 0})
    with pytest.raises(KeyboardInterrupt):
        api.encode(signal, resumable, on_step=interrupt_at(17))
    assert (tmp_path / "ck").exists()
    resumed = api.encode(signal, resumable)
    assert fileformat.to_bytes(resumed) == reference
    assert resumed.training["steps"] == 30


def test_resume_skips_the_steps_already_done(image_file: Path, tmp_path: Path):
    signal = read_signal(str(image_file))
    options = api.EncodeOptions(steps=30, params=3000, model_options={"partitions": (2, 3)}, checkpoint=str(tmp_path / "ck"),
                                checkpoint_every=0)
    with pytest.raises(KeyboardInterrupt):
        api.encode(signal, options, on_step=interrupt_at(20))
    seen: list[int] = []
    api.encode(signal, options, on_step=lambda info: seen.append(info.step))
    assert seen[0] == 20 and seen[-1] == 30  # the checkpoint saved before step 20 ran is the resume point


def test_a_checkpoint_of_other_flags_or_damaged_is_refused(image_file: Path, tmp_path: Path):
    signal = read_signal(str(image_file))
    ck = tmp_path / "ck"
    options = api.EncodeOptions(steps=10, params=3000, model_options={"partitions": (2, 3)}, checkpoint=str(ck), checkpoint_every=0)
    with pytest.raises(KeyboardInterrupt):
        api.encode(signal, options, on_step=interrupt_at(5))
    other = api.EncodeOptions(**{**options.__dict__, "lr": 1e-3})
    with pytest.raises(InrFileError, match="another encode"):
        api.encode(signal, other)
    data = ck.read_bytes()
    for damaged in (data[: len(data) // 2], data[:8] + b"[" + data[9:], b"\xff" * 64):
        ck.write_bytes(damaged)
        with pytest.raises(InrFileError):
            api.encode(signal, options)


def test_cli_resumes_after_sigkill(image_file: Path, tmp_path: Path):
    out, ck = tmp_path / "x.safetensors", tmp_path / "x.ckpt"

    def command(target: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "inrcli", "encode", str(image_file), "-o", str(target), "--steps", "800",
                *TINY, *extra]

    args = command(out, "--checkpoint", str(ck), "--checkpoint-every", "0.2")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ck.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # some steps past the first save
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert ck.exists() and not out.exists()
    resumed = subprocess.run(args, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert not ck.exists()  # removed once the output is written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.png", "x.safetensors"]
    reference = tmp_path / "ref.safetensors"
    done = subprocess.run(command(reference), capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes() == reference.read_bytes()


def test_checkpoint_may_not_be_the_input_or_output(runner, image_file: Path, tmp_path: Path):
    result = invoke(runner, "encode", image_file, "-o", tmp_path / "o.safetensors", "--checkpoint", image_file, *TINY)
    assert result.exit_code == 2 and "--checkpoint" in result.stderr


def test_a_save_killed_mid_write_leaves_nothing_behind_once_resumed(tmp_path: Path):
    """A writer's temporary file is removed on the next load when its process is gone, kept while it runs."""
    ck = Checkpoint(tmp_path / "x.ckpt", key="k")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f".x.ckpt.{finished.stdout.strip()}.partial"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        living = tmp_path / f".x.ckpt.{alive.pid}.partial"
        other = tmp_path / ".y.ckpt.1.partial"  # another checkpoint's file is not ours to remove
        for path in (dead, living, other):
            path.write_bytes(b"half a checkpoint")
        assert ck.load(torch.nn.Linear(1, 1), torch.optim.Adam(torch.nn.Linear(1, 1).parameters()),
                       torch.Generator()) is None
        assert not dead.exists() and living.exists() and other.exists()
    finally:
        alive.kill()
        alive.wait()
