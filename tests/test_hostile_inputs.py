"""Bad and hostile signal files: refused with one clear line before any large allocation,
or handled correctly."""

import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from inrcli.errors import SignalReadError
from inrcli.signals import read_signal
from tests.conftest import invoke, small_shape_fields


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width × height`` RGB pixels but holds almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(65000, 65000))
    with pytest.raises(SignalReadError, match="header says 65000×65000 pixels"):
        read_signal(str(path))


def test_bomb_through_the_cli_is_one_line(runner, tmp_path: Path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header(65000, 65000))
    result = invoke(runner, "encode", path, "-o", tmp_path / "x.safetensors")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "65000×65000" in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_one_pixel_image_encodes_and_decodes(runner, tmp_path: Path):
    iio.imwrite(tmp_path / "dot.png", np.array([[[200, 100, 50]]], dtype=np.uint8))
    model = tmp_path / "dot.safetensors"
    assert invoke(runner, "encode", tmp_path / "dot.png", "-o", model, "--steps", "50", "-q").exit_code == 0
    assert invoke(runner, "decode", model, "-o", tmp_path / "big.png", "--size", "8x8", "-q").exit_code == 0
    assert iio.imread(tmp_path / "big.png").shape == (8, 8, 3)


def test_decode_never_overwrites_its_input(runner, encoded_tiny: Path):
    before = encoded_tiny.read_bytes()
    result = invoke(runner, "decode", encoded_tiny, "-o", encoded_tiny, "--format", "png", "--force")
    assert result.exit_code == 2 and "input" in result.stderr
    assert encoded_tiny.read_bytes() == before


def test_truncated_png_is_refused(tmp_path: Path):
    iio.imwrite(tmp_path / "a.png", np.zeros((64, 64, 3), np.uint8) + 7)
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SignalReadError):
        read_signal(str(tmp_path / "cut.png"))


def test_zero_sized_png_header_is_refused(tmp_path: Path):
    for width, height in ((0, 10), (10, 0)):
        path = tmp_path / f"empty{width}x{height}.png"
        path.write_bytes(png_with_header(width, height))
        with pytest.raises(SignalReadError):
            read_signal(str(path))


def test_empty_frame_folder_is_a_video_with_no_frames(runner, tmp_path: Path):
    folder = tmp_path / "frames"
    folder.mkdir()
    result = invoke(runner, "encode", folder, "-o", tmp_path / "x.safetensors")
    assert result.exit_code != 0 and result.stderr.startswith("inr: error:") and "Traceback" not in result.stderr


SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def sample_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny INR files of an image, an audio clip, a video and a shape (two steps each)."""
    from inrcli import api, fileformat

    folder = tmp_path_factory.mktemp("models")
    models = {}
    for name, sample, options in (("image", "chelsea.png", {"params": 3000, "model_options": {"partitions": (2, 2)}}),
                                  ("audio", "chime.wav", {"params": 3000, "model_options": {"partitions": (4,)}}),
                                  ("video", "realshort.mp4", {"params": 6000, "model_options": {"partitions": (2, 2, 2)}}),
                                  ("shape", "spot.obj", {"params": 6000, "model_options": {"partitions": (2, 2, 2)}})):
        with small_shape_fields():
            inr = api.encode(read_signal(str(SAMPLES / sample)), api.EncodeOptions(steps=2, **options))
        models[name] = folder / f"{name}.safetensors"
        fileformat.save(inr, models[name])
    return models


@pytest.mark.parametrize("kind, ext, args", [
    ("image", "png", ["--scale", "1000"]),
    ("image", "png", ["--size", "200000x200000"]),
    ("audio", "wav", ["--scale", "1e6"]),
    ("video", "mp4", ["--frames", "100000000"]),
    ("video", "mp4", ["--scale", "1000"]),
    ("shape", "obj", ["--resolution", "100000"]),
    ("shape", "npy", ["--resolution", "4096"]),
])
def test_decodes_that_would_not_fit_are_refused_with_the_estimate(runner, sample_models, tmp_path: Path,
                                                                   kind: str, ext: str, args: list[str]):
    out = tmp_path / f"big.{ext}"
    result = invoke(runner, "decode", sample_models[kind], "-o", out, *args)
    assert result.exit_code == 1, result.stderr
    line = result.stderr.strip()
    assert line.count("\n") == 0 and line.startswith("inr: error:") and "GiB" in line and "crop" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["image", "audio", "video", "shape"])
def test_crop_never_overwrites_its_input_for_any_modality(runner, sample_models, kind: str):
    model = sample_models[kind]
    before = model.read_bytes()
    result = invoke(runner, "crop", model, "--region", "0:1" + ",0:1" * (len(json_grid(model)) - 1), "-o", model,
                    "--force")
    assert result.exit_code == 2 and "input" in result.stderr
    assert model.read_bytes() == before


def json_grid(model: Path) -> list[int]:
    from inrcli import fileformat

    return list(fileformat.load(model).model.partitioning.grid)


def test_meshes_whose_faces_index_missing_vertices_are_refused(tmp_path: Path):
    header = (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
              b"element face 2\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    for name, face in (("past.ply", b"3 0 1 7\n"), ("negative.ply", b"3 0 1 -1\n")):
        (tmp_path / name).write_bytes(header + face)
        with pytest.raises(SignalReadError, match="index vertices which do not exist"):
            read_signal(str(tmp_path / name))


def test_a_perfect_match_is_valid_json_and_silence_has_scores(runner, tmp_path: Path):
    import json

    import soundfile

    from tests.conftest import synthetic_image

    iio.imwrite(tmp_path / "a.png", synthetic_image())
    result = invoke(runner, "eval", tmp_path / "a.png", tmp_path / "a.png", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["psnr"] is None  # ∞ dB
    result = invoke(runner, "eval", tmp_path / "a.png", tmp_path / "a.png")
    assert "PSNR ∞ dB" in result.stdout
    soundfile.write(tmp_path / "quiet.wav", np.zeros(800, np.float32), 8000)
    soundfile.write(tmp_path / "noise.wav", np.full(800, 0.1, np.float32), 8000)
    result = invoke(runner, "eval", tmp_path / "quiet.wav", tmp_path / "noise.wav", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["snr"] is None  # −∞ dB: no signal at all


def test_a_one_pixel_image_stores_strict_json(runner, tmp_path: Path):
    import json

    from inrcli.fileformat import read_header

    iio.imwrite(tmp_path / "dot.png", np.full((1, 1, 3), 200, np.uint8))
    result = invoke(runner, "encode", tmp_path / "dot.png", "-o", tmp_path / "dot.safetensors", "--steps", "300",
                    "--params", "4000", "-q")
    assert result.exit_code == 0, result.stderr
    _, meta = read_header((tmp_path / "dot.safetensors").read_bytes())
    json.loads(meta["inr.training"], parse_constant=lambda name: pytest.fail(f"{name} in the stored record"))


def test_holdout_that_leaves_nothing_to_train_on_is_refused(tmp_path: Path):
    from inrcli import api
    from inrcli.errors import UsageError

    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    np.savez(tmp_path / "g.npz", points=points, faces=np.array([[0, 1, 2]]), target=np.arange(3.0))
    with pytest.raises(UsageError, match="fewer than 2"):
        api.encode(read_signal(str(tmp_path / "g.npz")), api.EncodeOptions(kind_options={"holdout": 0.9}, steps=2))


def test_force_never_replaces_a_device_or_a_pipe(runner, tmp_path: Path):
    import os

    from tests.conftest import synthetic_image

    iio.imwrite(tmp_path / "a.png", synthetic_image())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, Path("/dev/null")):
        result = invoke(runner, "encode", tmp_path / "a.png", "-o", target, "--force", "--steps", "1", "-q")
        assert result.exit_code == 2 and "not a regular file" in result.stderr, result.stderr
    assert Path("/dev/null").is_char_device() and fifo.is_fifo()


def test_a_closed_pipe_ends_quietly_and_a_long_name_is_one_line(encoded_tiny: Path, tmp_path: Path):
    import subprocess
    import sys

    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = subprocess.run([sys.executable, "-m", "inrcli", "decode", str(encoded_tiny), "-o", "-", "--format", "png",
                           "--scale", "40", "-q"], stdout=reader.stdin, stderr=subprocess.PIPE, timeout=120)
    reader.stdin.close()
    reader.wait()
    assert done.returncode == 141 and done.stderr == b"", done.stderr  # like any Unix tool after `| head`
    long_name = tmp_path / ("a" * 300 + ".png")
    done = subprocess.run([sys.executable, "-m", "inrcli", "decode", str(encoded_tiny), "-o", str(long_name), "-q"],
                          capture_output=True, timeout=120)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("inr: error:"), done.stderr
    assert "internal error" not in lines[0]


@pytest.mark.parametrize("flags, message", [([], "'rate' = 20000000 is out of range"),
                                            (["--arch", "siren", "--params", "61000000"], "lower --params")])
def test_an_encode_never_writes_a_file_it_cannot_load(runner, tmp_path: Path, flags, message):
    """Refused before training: a 20 MHz WAV, a SIREN wider than the loader allows."""
    import soundfile

    soundfile.write(tmp_path / "fast.wav", np.sin(np.arange(2000) / 3).astype(np.float32), 20_000_000)
    source = tmp_path / "fast.wav" if not flags else SAMPLES / "chelsea.png"
    result = invoke(runner, "encode", source, "-o", tmp_path / "x.safetensors", "--steps", "2", "-q", *flags)
    assert result.exit_code in (1, 2) and message in result.stderr, result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_values_that_clipping_would_change_are_refused_not_damaged(tmp_path: Path):
    import tifffile

    tifffile.imwrite(tmp_path / "float255.tif", np.linspace(0, 255, 48, dtype=np.float32).reshape(6, 8))
    tifffile.imwrite(tmp_path / "signed.tif", np.arange(-24, 24, dtype=np.int16).reshape(6, 8))
    for name in ("float255.tif", "signed.tif"):
        with pytest.raises(SignalReadError, match="does not guess a scale"):
            read_signal(str(tmp_path / name))
    tifffile.imwrite(tmp_path / "unit.tif", np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8))
    assert read_signal(str(tmp_path / "unit.tif")).values.max() == 1.0  # 0…1 floats read as they are
    points = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)
    np.savez(tmp_path / "complex.npz", points=points, faces=np.array([[0, 1, 2], [1, 3, 2]]),
             target=np.array([1 + 2j, 2, 3, 4]))
    with pytest.raises(SignalReadError, match="real numbers"):
        read_signal(str(tmp_path / "complex.npz"))


def test_a_mesh_whose_faces_vanish_beside_a_far_vertex_is_refused(runner, tmp_path: Path):
    """Found by scripts/fuzz_signals.py: an STL with one vertex 10²⁸ away normalises every face to
    zero area, and training, which samples the surface by area, crashed."""
    import trimesh

    ball = trimesh.creation.icosphere(subdivisions=1)
    far = 1e28 + np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    vertices = np.concatenate([ball.vertices, far])
    faces = np.concatenate([ball.faces, [[len(ball.vertices), len(ball.vertices) + 1, len(ball.vertices) + 2]]])
    trimesh.Trimesh(vertices, faces, process=False).export(tmp_path / "far.stl")
    result = invoke(runner, "encode", tmp_path / "far.stl", "-o", tmp_path / "far.safetensors", "--steps", "2")
    assert result.exit_code == 1 and "faces have no area" in result.stderr and result.stderr.count("\n") == 1


def test_a_mesh_with_two_coordinates_per_vertex_is_refused(runner, tmp_path: Path):
    """Found by scripts/fuzz_signals.py: a mutated OBJ whose vertices lost a coordinate."""
    (tmp_path / "flat.obj").write_text("v 0 0\nv 1 0\nv 0 1\nv 1 1\nf 1 2 3\nf 2 4 3\n")
    result = invoke(runner, "encode", tmp_path / "flat.obj", "-o", tmp_path / "flat.safetensors", "--steps", "2")
    assert result.exit_code == 1 and "vertices must have 3 coordinates" in result.stderr
    assert result.stderr.count("\n") == 1


def test_frames_too_tall_for_the_codec_are_one_line(runner, tmp_path: Path):
    """Found by scripts/fuzz_signals.py: a GIF 16×32784 encodes, but x264 refuses frames over
    16384 pixels on a side and ffmpeg printed a page of its own messages."""
    frames = tmp_path / "tall"
    frames.mkdir()
    for k in range(2):
        iio.imwrite(frames / f"{k}.png", np.full((16400, 4, 3), 60 * k, np.uint8))
    model = tmp_path / "tall.safetensors"
    assert invoke(runner, "encode", frames, "-o", model, "--steps", "2", "-q").exit_code == 0
    result = invoke(runner, "decode", model, "-o", tmp_path / "tall.mp4")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "at most 16384 pixels on a side, these are 4×16400" in result.stderr


def test_frame_outputs_are_checked_before_decoding(runner, sample_models, tmp_path: Path):
    """A later frame that exists, or a folder that does not, is found before any frame is decoded."""
    (tmp_path / "f005.png").write_bytes(b"keep me")
    result = invoke(runner, "decode", sample_models["video"], "-o", tmp_path / "f%03d.png")
    assert result.exit_code != 0 and "f005.png exists" in result.stderr and "decod" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f005.png"]
    result = invoke(runner, "decode", sample_models["video"], "-o", tmp_path / "missing" / "f%03d.png")
    assert result.exit_code != 0 and "does not exist" in result.stderr and result.stderr.count("\n") == 1
