"""Signals on meshes and graphs: Laplacian eigenvector embeddings, sign/rotation alignment,
decoding on the stored graph and on another discretisation, R² and MSE."""

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from inrcli import api, fileformat
from inrcli.errors import SignalReadError
from inrcli.signals import read_signal
from inrcli.signals.graph import aligned_embedding, anchor_indices, laplacian_embedding, _edge_list
from tests.conftest import DATA, invoke, needs_data


def sphere_signal(subdivisions: int = 3):
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    points = np.asarray(mesh.vertices)
    target = (np.sin(3 * points[:, 0]) + points[:, 1] * points[:, 2])[:, None].astype(np.float32)
    return points.astype(np.float32), np.asarray(mesh.faces, dtype=np.int32), target


@pytest.fixture
def npz_file(tmp_path: Path) -> Path:
    points, faces, target = sphere_signal()
    path = tmp_path / "sphere.npz"
    np.savez(path, points=points, faces=faces, target=target)
    return path


def test_embedding_is_the_scaled_laplacian_spectrum():
    points, faces, _ = sphere_signal(2)
    embedding, values = laplacian_embedding(len(points), _edge_list(faces, None), 10)
    assert values[0] == pytest.approx(0, abs=1e-8) and np.all(np.diff(values) >= -1e-9)
    assert np.allclose(np.abs(embedding[:, 0]), 1.0, atol=1e-4)  # constant vector × √n
    assert np.allclose(embedding.T @ embedding / len(points), np.eye(10), atol=1e-4)


def test_alignment_undoes_sign_flips_and_rotations():
    points, faces, _ = sphere_signal(2)
    embedding, _ = laplacian_embedding(len(points), _edge_list(faces, None), 12)
    anchors = anchor_indices(len(points), 48)
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    disguised = embedding @ rotation  # what another eigensolver run could have returned
    aligned = aligned_embedding(points, faces, None, 12, points[anchors], disguised[anchors])
    assert np.allclose(aligned, disguised, atol=1e-3)


@needs_data
def test_embedding_matches_the_reference_eigenvectors_up_to_sign():
    data = np.load(DATA / "graphs" / "bunny_res2_grayscott.npz")
    embedding, values = laplacian_embedding(len(data["points"]), _edge_list(data["faces"], None), 20)
    assert np.allclose(values, data["eigenvalues"][:20], rtol=1e-3, atol=1e-6)
    distinct = np.nonzero(np.abs(np.diff(values[:19])) > 1e-5)[0]  # vectors of simple eigenvalues
    for column in distinct[1:10]:
        a, b = embedding[:, column], data["fourier"][:, column]
        assert abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.99


def test_encode_decode_on_same_graph_and_on_a_finer_one(npz_file: Path, tmp_path: Path):
    signal = read_signal(str(npz_file))
    assert signal.modality == "graph" and signal.values.shape == (642, 1)
    inr = api.encode(signal, api.EncodeOptions(kind_options={"k": 16, "holdout": 0.1}, params=3000, steps=300))
    assert inr.arch == "siren" and inr.training["r2"] > 0.95 and "holdout_r2" in inr.training
    again = fileformat.from_bytes(fileformat.to_bytes(inr))  # decodes with nothing but the file
    same = api.decode(again)
    assert api.evaluate(signal, again)["r2"] == pytest.approx(inr.training["r2"], abs=1e-3)
    fine_points, fine_faces, fine_target = sphere_signal(4)
    finer = api.decode(again, api.plan_decode(again, {"mesh": {"points": fine_points, "faces": fine_faces, "edges": None}}))
    assert finer.values.shape == (len(fine_points), 1)
    residual = np.sum((finer.values - fine_target) ** 2)
    assert 1 - residual / np.sum((fine_target - fine_target.mean()) ** 2) > 0.8
    assert same.values.shape == (642, 1)


def test_cli_graph_paths(runner, npz_file: Path, tmp_path: Path):
    model = tmp_path / "g.safetensors"
    result = invoke(runner, "encode", npz_file, "-o", model, "--k", "16", "--params", "3000", "--steps", "50",
                    "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert "r2" in json.loads(result.stdout)
    out = tmp_path / "d.npz"
    assert invoke(runner, "decode", model, "-o", out, "-q").exit_code == 0
    assert np.load(out)["target"].shape == (642, 1)
    ply = tmp_path / "d.ply"
    assert invoke(runner, "decode", model, "-o", ply, "-q").exit_code == 0
    assert len(trimesh.load(ply).vertices) == 642
    fine = tmp_path / "fine.obj"
    trimesh.creation.icosphere(subdivisions=4).export(fine)
    assert invoke(runner, "decode", model, "--mesh", fine, "-o", tmp_path / "f.npz", "-q").exit_code == 0
    scores = json.loads(invoke(runner, "eval", npz_file, model, "--json").stdout)
    assert {"r2", "mse"} <= set(scores)
    assert invoke(runner, "crop", model, "--region", "0:1", "-o", tmp_path / "c.safetensors").exit_code == 2


def test_mesh_with_vertex_values_reads_as_graph(tmp_path: Path):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    mesh.visual.vertex_colors = np.tile([255, 0, 0, 255], (len(mesh.vertices), 1))
    mesh.export(tmp_path / "c.ply")
    signal = read_signal(str(tmp_path / "c.ply"), as_kind="graph")
    assert signal.values.shape == (len(mesh.vertices), 3) and signal.values[:, 0].min() == 1.0


@pytest.mark.parametrize("arrays, message", [
    ({"points": np.zeros((4, 3))}, "target"),
    ({"points": np.zeros((4, 3)), "target": np.zeros(4)}, "neither faces nor edges"),
    ({"points": np.zeros((4, 3)), "target": np.zeros(3), "faces": np.array([[0, 1, 2]])}, "rows"),
    ({"points": np.zeros((4, 3)), "target": np.zeros(4), "faces": np.array([[0, 1, 9]])}, "do not exist"),
    ({"points": np.full((4, 3), np.nan), "target": np.zeros(4), "faces": np.array([[0, 1, 2]])}, "NaN"),
])
def test_bad_graphs_are_refused(tmp_path: Path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SignalReadError, match=message):
        read_signal(str(tmp_path / "bad.npz"))
