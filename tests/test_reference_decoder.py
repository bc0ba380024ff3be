"""docs/reference_decoder.py (numpy + safetensors, written from docs/FORMAT.md) decodes every kind
and architecture as ``inr decode`` does: ≤ 1 level of 8 or 16 bits, audio ≤ 1e-5."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile

from inrcli import fileformat
from tests.conftest import invoke, small_shape_fields, synthetic_image

ROOT = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location("reference_decoder", ROOT / "docs" / "reference_decoder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_decoder_imports_neither_torch_nor_inrcli():
    code = ("import sys; sys.path.insert(0, 'docs'); import reference_decoder; "
            "assert 'torch' not in sys.modules and not any(m.startswith('inrcli') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    assert len((ROOT / "docs" / "reference_decoder.py").read_text().splitlines()) < 360  # coded weights: ~95


def _encode(runner, source: Path, model: Path, *flags: str) -> Path:
    result = invoke(runner, "encode", source, "-o", model, "--steps", "30", "-q", *flags)
    assert result.exit_code == 0, result.stderr
    return model


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("reference")
    iio.imwrite(folder / "photo.png", synthetic_image(20, 26))
    import png

    wide = (synthetic_image(12, 10).astype(np.uint16) * 257).reshape(12, 30)
    with open(folder / "deep.png", "wb") as handle:
        png.Writer(10, 12, greyscale=False, bitdepth=16).write(handle, wide)
    soundfile.write(str(folder / "tone.wav"), (0.5 * np.sin(np.arange(900) / 7.0)).astype(np.float32), 8000,
                    subtype="FLOAT")
    (folder / "frames").mkdir()
    for k in range(4):
        iio.imwrite(folder / "frames" / f"{k}.png", synthetic_image(12, 14, seed=k))
    z, y, x = np.mgrid[0:6, 0:10, 0:8]
    np.save(folder / "scan.npy", (40 * np.sin(z / 2.0 + y / 3.0) + x * 9).astype(np.int16))
    np.save(folder / "field.npy", np.cos(z / 3.0 + x / 4.0).astype(np.float32))
    rng = np.random.default_rng(0)  # an irregular triangulation: its Laplacian has simple eigenvalues
    from scipy.spatial import Delaunay

    flat = rng.random((60, 2))
    faces = Delaunay(flat).simplices
    points = np.c_[flat, 0.1 * np.sin(5 * flat[:, :1])]
    target = np.sin(4 * flat[:, 0]) + flat[:, 1] ** 2
    np.savez(folder / "graph.npz", points=points, faces=faces, target=target)
    edges = np.concatenate([faces[:, :2], faces[:, 1:]])  # connected: a disconnected graph's spectrum is ambiguous
    np.savez(folder / "graph_edges.npz", points=points, edges=edges, target=target)
    np.savez(folder / "graph_time.npz", points=points, faces=faces, target=np.stack([target, target ** 2, -target]),
             time=np.array([0.0, 0.5, 2.0]))
    import trimesh

    trimesh.creation.icosphere(subdivisions=2).export(folder / "ball.obj")
    return folder


def _read_png(path: Path) -> np.ndarray:
    """8- or 16-bit PNG pixels as stored (Pillow reads 16-bit RGB as 8-bit)."""
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    dtype = np.uint16 if info["bitdepth"] == 16 else np.uint8
    return np.vstack([np.asarray(row, dtype) for row in rows]).reshape(height, width, info["planes"])


IMAGE_CASES = {"image": ("photo.png", []), "image-float": ("photo.png", ["--bits", "32"]),
               "image-siren": ("photo.png", ["--arch", "siren", "--params", "3000"]),
               "image-f16": ("photo.png", ["--dtype", "float16"]), "image-16bit": ("deep.png", [])}


@pytest.mark.parametrize("name", sorted(IMAGE_CASES))
def test_images_agree_within_one_level(runner, inputs: Path, tmp_path: Path, name: str):
    source, flags = IMAGE_CASES[name]
    model = _encode(runner, inputs / source, tmp_path / "m.safetensors", "--params", "4000", *flags)
    assert invoke(runner, "decode", model, "-o", tmp_path / "out.png", "-q").exit_code == 0
    ours = _reference().decode(str(model))
    theirs = _read_png(tmp_path / "out.png")
    assert ours.shape[:2] == theirs.shape[:2] and ours.dtype == theirs.dtype
    assert np.abs(ours.astype(np.int64) - theirs.reshape(ours.shape)).max() <= 1


def test_a_cropped_file_agrees(runner, inputs: Path, tmp_path: Path):
    model = _encode(runner, inputs / "photo.png", tmp_path / "m.safetensors", "--partitions", "3,4",
                    "--params", "6000")
    cropped = tmp_path / "c.safetensors"
    assert invoke(runner, "crop", model, "--region", "1:3,1:3", "-o", cropped, "-q").exit_code == 0
    assert invoke(runner, "decode", cropped, "-o", tmp_path / "out.png", "-q").exit_code == 0
    ours, theirs = _reference().decode(str(cropped)), iio.imread(tmp_path / "out.png")
    assert ours.shape == theirs.shape and np.abs(ours.astype(int) - theirs).max() <= 1


@pytest.mark.parametrize("arch, bits", [("lg-siren", "32"), ("siren", "32"), ("lg-siren", "14"), ("siren", "14")])
def test_audio_agrees_within_1e5(runner, inputs: Path, tmp_path: Path, arch: str, bits: str):
    """Float files, and coded ones whose first layer is too fine for 16 bits (format 5: kept as float32)."""
    model = _encode(runner, inputs / "tone.wav", tmp_path / "m.safetensors", "--arch", arch, "--params", "3000",
                    "--bits", bits)
    if bits != "32":
        assert json.loads(fileformat.read_header(model.read_bytes())[1]["inr.coding"])["float"]
    assert invoke(runner, "decode", model, "-o", tmp_path / "out.wav", "-q").exit_code == 0
    theirs, _ = soundfile.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    ours = _reference().decode(str(model))
    # Float32 rounding, not the format: numpy's and torch's sin and products round differently per
    # CPU, and ω0 amplifies it layer by layer (under 1e-6 on the AMD hosts, 2.2e-6 on an Intel AVX-512
    # one). 1e-5 is a third of one 16-bit level.
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1e-5


@pytest.mark.parametrize("arch", ["lg-siren", "siren"])
def test_video_agrees_within_one_level(runner, inputs: Path, tmp_path: Path, arch: str):
    model = _encode(runner, inputs / "frames", tmp_path / "m.safetensors", "--params", "8000", "--arch", arch)
    assert invoke(runner, "decode", model, "-o", tmp_path / "f%02d.png", "-q").exit_code == 0
    theirs = np.stack([iio.imread(tmp_path / f"f{k:02d}.png") for k in range(4)])
    ours = _reference().decode(str(model))
    assert ours.shape == theirs.shape and np.abs(ours.astype(int) - theirs).max() <= 1


@pytest.mark.parametrize("source, arch", [("scan.npy", "lg-siren"), ("field.npy", "lg-siren"), ("scan.npy", "siren")])
def test_volumes_agree(runner, inputs: Path, tmp_path: Path, source: str, arch: str):
    model = _encode(runner, inputs / source, tmp_path / "m.safetensors", "--params", "4000", "--arch", arch)
    assert invoke(runner, "decode", model, "-o", tmp_path / "out.npy", "-q").exit_code == 0
    theirs, ours = np.load(tmp_path / "out.npy"), _reference().decode(str(model))
    assert ours.dtype == theirs.dtype and ours.size == theirs.size
    tolerance = 1 if ours.dtype.kind == "i" else 1e-5
    assert np.abs(ours.reshape(theirs.shape).astype(np.float64) - theirs).max() <= tolerance


@pytest.mark.parametrize("field, arch", [("occupancy", "lg-siren"), ("sdf", "lg-siren"), ("occupancy", "siren")])
def test_shape_fields_agree(runner, inputs: Path, tmp_path: Path, field: str, arch: str):
    with small_shape_fields():
        model = _encode(runner, inputs / "ball.obj", tmp_path / "m.safetensors", "--field", field, "--params", "6000",
                        "--arch", arch)
    assert invoke(runner, "decode", model, "--format", "npy", "-o", tmp_path / "out.npy", "-q").exit_code == 0
    theirs, ours = np.load(tmp_path / "out.npy"), _reference().decode(str(model))
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1e-5


@pytest.mark.parametrize("source, flags", [("graph.npz", ()), ("graph.npz", ("--laplacian", "combinatorial")),
                                           ("graph_edges.npz", ()), ("graph_time.npz", ())])
def test_graphs_agree_on_their_own_mesh(runner, inputs: Path, tmp_path: Path, source: str, flags: tuple):
    model = _encode(runner, inputs / source, tmp_path / "m.safetensors", "--k", "6", "--params", "600", *flags)
    assert invoke(runner, "decode", model, "-o", tmp_path / "out.npz", "-q").exit_code == 0
    with np.load(tmp_path / "out.npz") as data:
        theirs = data["target"]
    ours = _reference().decode(str(model))
    assert np.abs(ours.reshape(theirs.shape) - theirs).max() <= 1e-4


@pytest.mark.parametrize("conditioning", ["latent", "spatial", "index"])
def test_sets_agree_member_by_member(runner, inputs: Path, tmp_path: Path, conditioning: str):
    code = ["--code-dim", "4"] if conditioning != "index" else []  # the index's own digits otherwise
    model = _encode(runner, inputs / "frames", tmp_path / "set.safetensors", "--set", "--params", "3000", *code,
                    "--conditioning", conditioning)
    (tmp_path / "all").mkdir()
    assert invoke(runner, "decode", model, "--all", "-o", tmp_path / "all" / "%d.png", "-q").exit_code == 0
    ours = _reference().decode(str(model))
    assert ours.shape == (4, 12, 14, 3)
    for member in range(4):
        theirs = iio.imread(tmp_path / "all" / f"{member}.png")
        assert np.abs(ours[member].astype(np.int64) - theirs).max() <= 1
