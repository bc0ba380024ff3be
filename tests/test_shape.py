"""3D shapes: occupancy/SDF fields from meshes, marching cubes on decode, IoU/Chamfer/F-score."""

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from inrcli import api
from inrcli.errors import SignalReadError
from inrcli.signals import read_signal, shape
from tests.conftest import DATA, invoke, needs_data


@pytest.fixture(autouse=True)
def small_grids(monkeypatch):
    """Tiny grids and point pools keep these tests fast; the code paths are the same."""
    monkeypatch.setattr(shape, "RESOLUTION", 32)
    monkeypatch.setattr(shape, "POOL_POINTS", 40_000)
    monkeypatch.setattr(shape, "EVAL_SURFACE_POINTS", 5_000)
    monkeypatch.setattr(shape.PointSampler, "batch_points", 4096)


def sphere_file(tmp_path: Path, ext: str = "obj", radius: float = 2.0) -> Path:
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    mesh.apply_translation([5.0, -1.0, 0.5])
    path = tmp_path / f"sphere.{ext}"
    mesh.export(path)
    return path


def test_occupancy_grid_of_a_sphere_has_the_right_volume(tmp_path: Path):
    signal = read_signal(str(sphere_file(tmp_path)))
    assert signal.modality == "shape" and signal.shape == (32, 32, 32)
    expected = 4 / 3 * np.pi * (1 / shape.MARGIN) ** 3 / 8  # sphere fills the cube up to the margin
    assert signal.values.mean() == pytest.approx(expected, abs=0.02)
    assert signal.info["center"] == pytest.approx([5.0, -1.0, 0.5], abs=1e-6)


def test_open_meshes_still_have_an_inside(tmp_path: Path):
    mesh = trimesh.creation.icosphere(subdivisions=3)
    mesh.update_faces(mesh.face_normals[:, 2] < 0.9)  # cut a hole in the top
    mesh.export(tmp_path / "open.ply")
    assert not trimesh.load(tmp_path / "open.ply").is_watertight
    closed = read_signal(str(sphere_file(tmp_path, "ply", radius=1.0)))
    opened = read_signal(str(tmp_path / "open.ply"))
    assert np.mean(opened.values == closed.values) > 0.97


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
     b"0 0 0\n1 0 0\n0 1 0\n", "no faces"),
    (b"v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
    (b"v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "degenerate"),
])
def test_bad_meshes_are_refused(tmp_path: Path, content: bytes, message: str):
    ext = "ply" if content.startswith(b"ply") else "obj"
    path = tmp_path / f"bad.{ext}"
    path.write_bytes(content)
    with pytest.raises(SignalReadError, match=message):
        read_signal(str(path))


@pytest.fixture
def sphere_inr(tmp_path: Path):
    signal = read_signal(str(sphere_file(tmp_path)))
    return api.encode(signal, api.EncodeOptions(model_options={"partitions": (2, 2, 2)}, params=12_000, steps=150)), signal


def test_encoded_sphere_decodes_to_a_closed_mesh_in_place(sphere_inr, tmp_path: Path):
    inr, signal = sphere_inr
    assert inr.training["iou"] > 0.9
    plan = api.plan_decode(inr, {"resolution": 40})
    assert plan.shape == (40, 40, 40)
    decoded = api.decode(inr, plan)
    mesh = shape.to_mesh(decoded)
    assert mesh.bounds[0] == pytest.approx([3.0, -3.0, -1.5], abs=0.25)
    assert mesh.bounds[1] == pytest.approx([7.0, 1.0, 2.5], abs=0.25)
    scores = api.evaluate(signal, inr)
    assert scores["iou"] > 0.9 and scores["chamfer"] < 0.02 and scores["fscore"] > 0.5


def test_3d_crop_matches_the_full_decode(sphere_inr):
    inr, _ = sphere_inr
    cropped = api.crop(inr, "0:1,0:2,1:2")
    block = tuple(slice(lo, hi) for lo, hi in cropped.signal.window)
    assert np.array_equal(api.decode(inr).values[block], api.decode(cropped).values)
    assert cropped.model.param_count()["local"] * 4 == inr.model.param_count()["local"]


def test_sdf_field(tmp_path: Path):
    signal = read_signal(str(sphere_file(tmp_path)))
    inr = api.encode(signal, api.EncodeOptions(model_options={"partitions": (2, 2, 2)}, params=12_000, steps=150, kind_options={"field": "sdf"}))
    assert inr.signal.info["field"] == "sdf" and inr.training["iou"] > 0.85
    decoded = api.decode(inr)
    inside = decoded.values[16, 16, 16, 0]
    assert inside < 0 < decoded.values[0, 0, 0, 0]


def test_cli_shape_paths(runner, tmp_path: Path):
    mesh = sphere_file(tmp_path, "stl")
    model = tmp_path / "s.safetensors"
    result = invoke(runner, "encode", mesh, "-o", model, "--partitions", "2,2,2", "--params", "12000",
                    "--steps", "60", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert {"iou", "params"} <= set(json.loads(result.stdout))
    for ext in ("ply", "obj", "stl", "glb"):
        out = tmp_path / f"d.{ext}"
        decoded = invoke(runner, "decode", model, "-o", out, "--resolution", "24", "-q")
        assert decoded.exit_code == 0, decoded.stderr
        assert len(trimesh.load(out, force="mesh").faces) > 0
    grid = tmp_path / "g.npy"
    assert invoke(runner, "decode", model, "-o", grid, "--resolution", "20", "-q").exit_code == 0
    assert np.load(grid, allow_pickle=False).shape == (20, 20, 20)
    scores = json.loads(invoke(runner, "eval", mesh, model, "--json").stdout)
    assert {"iou", "chamfer", "fscore"} <= set(scores)
    assert invoke(runner, "crop", model, "--region", "0:1,0:2,0:2", "-o", tmp_path / "c.safetensors", "-q").exit_code == 0
    assert invoke(runner, "decode", model, "-o", tmp_path / "x.ply", "--rate", "3", "-q").exit_code == 2


def test_mesh_against_mesh_eval(tmp_path: Path):
    a = read_signal(str(sphere_file(tmp_path, "obj", radius=2.0)))
    scores = api.evaluate(a, a)
    assert scores["iou"] == 1.0 and scores["chamfer"] < 0.01 and scores["fscore"] > 0.9


@needs_data
def test_spot_and_open_bunny_read():
    spot = read_signal(str(DATA / "meshes" / "spot.obj"))
    bunny = read_signal(str(DATA / "meshes" / "bunny.ply"))
    assert 0.05 < spot.values.mean() < 0.6 and 0.05 < bunny.values.mean() < 0.6
