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
from inrcli.signals.graph_spectral import align, anchor_indices, spectral_embedding
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
    embedding, values = spectral_embedding(points, faces, None, 10, "combinatorial")
    assert values[0] == pytest.approx(0, abs=1e-8) and np.all(np.diff(values) >= -1e-9)
    assert np.allclose(np.abs(embedding[:, 0]), 1.0, atol=1e-4)  # constant vector × √n
    assert np.allclose(embedding.T @ embedding / len(points), np.eye(10), atol=1e-4)


def test_alignment_undoes_sign_flips_and_rotations():
    points, faces, _ = sphere_signal(2)
    embedding, _ = spectral_embedding(points, faces, None, 12, "combinatorial")
    anchors = anchor_indices(len(points), 48)
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    disguised = embedding @ rotation  # what another eigensolver run could have returned
    aligned = align(embedding, points, points[anchors], disguised[anchors])
    assert np.allclose(aligned, disguised, atol=1e-3)


@needs_data
def test_embedding_matches_the_reference_eigenvectors_up_to_sign():
    data = np.load(DATA / "graphs" / "bunny_res2_grayscott.npz")
    embedding, values = spectral_embedding(data["points"], data["faces"], None, 20, "combinatorial")
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


# ---- issue 17: an embedding that transfers, --k auto, signals over time, graphs without geometry ----

from inrcli.errors import UsageError
from inrcli.signals import graph as graph_kind
from inrcli.signals.graph_spectral import cotangent_laplacian, default_laplacian


def test_cotangent_laplacian_is_libigls_with_barycentric_mass():
    import igl

    points, faces, _ = sphere_signal(2)
    stiffness, mass = cotangent_laplacian(points, faces)
    v, f = points.astype(np.float64), faces.astype(np.int64)
    assert np.allclose(stiffness.toarray(), -igl.cotmatrix(v, f).toarray(), atol=1e-9)
    barycentric = igl.massmatrix(v, f, igl.MASSMATRIX_TYPE_BARYCENTRIC).diagonal()
    assert np.allclose(mass, barycentric / barycentric.sum())


def test_cotangent_embedding_agrees_between_two_discretisations():
    """Unlike D − A's, the cotangent eigenvectors barely depend on where the vertices are."""
    coarse, coarse_faces, _ = sphere_signal(2)
    fine_mesh = trimesh.creation.icosphere(subdivisions=2).subdivide()  # midpoints: first vertices kept
    fine = np.asarray(fine_mesh.vertices) / np.linalg.norm(fine_mesh.vertices, axis=1, keepdims=True)
    fine[: len(coarse)] = coarse  # the coarse vertices in place, the new ones on the sphere
    ours, _ = spectral_embedding(coarse, coarse_faces, None, 9, "cotangent")
    theirs, _ = spectral_embedding(fine, np.asarray(fine_mesh.faces), None, 9, "cotangent")
    anchors = anchor_indices(len(coarse), 36)
    aligned = align(theirs, fine, coarse[anchors], ours[anchors])
    assert np.abs(aligned[: len(coarse)] - ours).mean() < 0.15 * np.abs(ours).mean()


def test_default_laplacian_follows_the_geometry():
    points, faces, _ = sphere_signal(1)
    assert default_laplacian(points, faces, None) == "cotangent"
    assert default_laplacian(points, None, faces[:, :2]) == "combinatorial"
    assert default_laplacian(np.vstack([points, [[5, 5, 5]]]), faces, None) == "combinatorial"  # a vertex in no face


def _over_time(tmp_path: Path, times: np.ndarray, name: str) -> Path:
    points, faces, _ = sphere_signal(2)
    target = np.stack([np.sin(3 * points[:, 0] + 2 * t) + t * points[:, 1] for t in times]).astype(np.float32)
    np.savez(tmp_path / name, points=points, faces=faces, target=target, time=times)
    return tmp_path / name


def test_a_signal_over_time_trains_decodes_and_scores_at_other_times(runner, tmp_path: Path):
    even = _over_time(tmp_path, np.linspace(0, 1, 7)[0::2], "even.npz")
    odd = _over_time(tmp_path, np.linspace(0, 1, 7)[1::2], "odd.npz")
    model = tmp_path / "t.safetensors"
    assert invoke(runner, "encode", even, "-o", model, "--k", "9", "--params", "3000", "--steps", "300",
                  "-q").exit_code == 0
    meta = json.loads(invoke(runner, "info", model, "--json").stdout)
    assert meta["signal_info"]["times"] == 4 and meta["config"]["in_dim"] == 10
    assert invoke(runner, "decode", model, "-o", tmp_path / "all.npz", "-q").exit_code == 0
    with np.load(tmp_path / "all.npz") as data:
        assert data["target"].shape == (4, 162) and np.allclose(data["time"], np.linspace(0, 1, 7)[0::2])
    assert invoke(runner, "decode", model, "--time", "0.37", "-o", tmp_path / "one.ply", "-q").exit_code == 0
    (tmp_path / "seq").mkdir()
    assert invoke(runner, "decode", model, "--times", "0:1:3", "-o", tmp_path / "seq" / "%02d.npz",
                  "-q").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "seq").iterdir()) == ["00.npz", "01.npz", "02.npz"]
    fine = tmp_path / "fine.obj"
    trimesh.creation.icosphere(subdivisions=3).export(fine)
    assert invoke(runner, "decode", model, "--mesh", fine, "--time", "0.5", "-o", tmp_path / "f.npz",
                  "-q").exit_code == 0
    assert np.load(tmp_path / "f.npz")["target"].shape == (1, 642)
    scores = json.loads(invoke(runner, "eval", odd, model, "--json").stdout)
    assert scores["r2"] > 0.8 and scores["mse"] >= 0


@pytest.mark.parametrize("flags, message", [
    (["--time", "0.5", "--times", "0:1:2"], "not both"),
    (["--times", "0:1"], "START:STOP:COUNT"),
    (["--times", "0:1:0"], "COUNT"),
])
def test_bad_time_flags_are_one_line(runner, tmp_path: Path, flags, message):
    model = tmp_path / "t.safetensors"
    source = _over_time(tmp_path, np.array([0.0, 1.0]), "t.npz")
    assert invoke(runner, "encode", source, "-o", model, "--k", "4", "--params", "500", "--steps", "5",
                  "-q").exit_code == 0
    result = invoke(runner, "decode", model, *flags, "-o", tmp_path / "x.npz")
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_time_flags_need_a_file_over_time(runner, npz_file: Path, tmp_path: Path):
    model = tmp_path / "g.safetensors"
    assert invoke(runner, "encode", npz_file, "-o", model, "--k", "4", "--params", "500", "--steps", "5",
                  "-q").exit_code == 0
    result = invoke(runner, "decode", model, "--time", "0.5", "-o", tmp_path / "x.npz")
    assert result.exit_code == 2 and "over time" in result.stderr
    times = _over_time(tmp_path, np.array([0.0, 1.0]), "t.npz")
    assert invoke(runner, "eval", times, model).exit_code == 2


@pytest.mark.parametrize("time, target, message", [
    (np.array([0.0, 0.0]), np.zeros((2, 162)), "increasing"),
    (np.array([0.0, 1.0]), np.zeros((3, 162)), "target must be"),
    (np.array([[0.0, 1.0]]), np.zeros((2, 162)), "time must be"),
])
def test_bad_signals_over_time_are_refused(tmp_path: Path, time, target, message):
    points, faces, _ = sphere_signal(2)
    np.savez(tmp_path / "bad.npz", points=points, faces=faces, target=target, time=time)
    with pytest.raises(SignalReadError, match=message):
        read_signal(str(tmp_path / "bad.npz"))


def test_a_graph_of_edges_alone_works_end_to_end(runner, tmp_path: Path):
    mesh = trimesh.creation.icosphere(subdivisions=2)
    points = np.asarray(mesh.vertices)
    np.savez(tmp_path / "net.npz", points=points, edges=np.asarray(mesh.edges_unique),
             target=np.sin(3 * points[:, 0]))
    model = tmp_path / "net.safetensors"
    assert invoke(runner, "encode", tmp_path / "net.npz", "-o", model, "--k", "8", "--params", "2000",
                  "--steps", "100", "--holdout", "0.1", "-q").exit_code == 0
    info = json.loads(invoke(runner, "info", model, "--json").stdout)["signal_info"]
    assert info["laplacian"] == "combinatorial" and info["edges"] == len(mesh.edges_unique)
    assert invoke(runner, "decode", model, "-o", tmp_path / "out.npz", "-q").exit_code == 0
    assert np.load(tmp_path / "out.npz")["edges"].shape == (len(mesh.edges_unique), 2)
    scores = json.loads(invoke(runner, "eval", tmp_path / "net.npz", model, "--json").stdout)
    assert {"r2", "mse", "recorded_holdout_r2"} <= set(scores)
    refused = invoke(runner, "decode", model, "-o", tmp_path / "out.ply")
    assert refused.exit_code == 2 and "without faces" in refused.stderr
    assert invoke(runner, "encode", tmp_path / "net.npz", "-o", tmp_path / "c.safetensors", "--laplacian",
                  "cotangent", "-q").exit_code == 2


def test_k_auto_picks_a_candidate_on_validation_nodes_and_records_it(monkeypatch, npz_file: Path):
    monkeypatch.setattr(graph_kind, "K_CANDIDATES", (4, 9))
    signal = read_signal(str(npz_file))
    inr = api.encode(signal, api.EncodeOptions(kind_options={"holdout": 0.1}, params=2000, steps=100))
    search = inr.training["search"]
    assert set(search["validation_r2"]) == {f"{lap} k={k}" for lap in ("cotangent", "combinatorial") for k in (4, 9)}
    assert (inr.signal.info["k"], inr.signal.info["laplacian"]) == (search["k"], search["laplacian"])
    assert inr.training["steps"] == 70  # the four candidates took 30% of the steps
    assert "holdout_r2" in inr.training
    chosen = api.encode(signal, api.EncodeOptions(kind_options={"laplacian": "combinatorial"}, params=2000, steps=20))
    assert set(chosen.training["search"]["validation_r2"]) == {"combinatorial k=4", "combinatorial k=9"}


@pytest.mark.parametrize("k", ["0", "x", "2000", "1.5"])
def test_bad_k_is_refused(k):
    with pytest.raises(UsageError, match="--k"):
        graph_kind._k_option(k)


def test_graph_files_are_format_3_and_other_kinds_stay_2(npz_file: Path, encoded_tiny: Path):
    from safetensors import safe_open

    inr = api.encode(read_signal(str(npz_file)), api.EncodeOptions(kind_options={"k": 4}, params=500, steps=5,
                                                                   bits=32))  # coded files are 4.0
    header = fileformat.to_bytes(inr)
    assert json.loads(header[8:8 + int.from_bytes(header[:8], "little")])["__metadata__"]["inr.version"] == "3.0"
    with safe_open(str(encoded_tiny), framework="numpy") as handle:
        assert handle.metadata()["inr.version"] == "2.0"


def test_a_graph_without_positions_gets_index_positions(runner, tmp_path: Path):
    ring = np.arange(30)
    np.savez(tmp_path / "ring.npz", edges=np.c_[ring, (ring + 1) % 30], target=np.cos(ring * 2 * np.pi / 30))
    model = tmp_path / "ring.safetensors"
    assert invoke(runner, "encode", tmp_path / "ring.npz", "-o", model, "--k", "5", "--params", "1000",
                  "--steps", "200", "-q").exit_code == 0
    scores = json.loads(invoke(runner, "eval", tmp_path / "ring.npz", model, "--json").stdout)
    assert scores["r2"] > 0.9
    np.savez(tmp_path / "bad.npz", faces=np.array([[0, 1, 2]]), target=np.zeros(3))
    assert "no points" in invoke(runner, "encode", tmp_path / "bad.npz", "-o", tmp_path / "b.safetensors").stderr


def test_when_nothing_generalises_the_search_takes_the_largest_k(npz_file: Path):
    """Validation R² ≤ 0 everywhere (a pattern that changes from node to node): fit best instead."""
    signal = read_signal(str(npz_file))
    chosen, record = graph_kind.GraphKind().search(signal, {}, lambda options, share: -0.5 + options["k"] / 1000)
    assert (chosen["laplacian"], chosen["k"]) == ("cotangent", 100) and record["k"] == 100
    chosen, _ = graph_kind.GraphKind().search(signal, {}, lambda options, share: 0.5 - options["k"] / 1000)
    assert chosen["k"] == 10
