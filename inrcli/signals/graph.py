"""Signals on meshes and graphs: generalised INRs (Grattarola & Vandergheynst, 2022).

A node's coordinate is its row of the first ``k`` eigenvectors of the combinatorial graph
Laplacian ``L = D − A``, scaled by √n (scipy's sparse eigensolver in shift-invert mode).  An
MLP maps that embedding to the signal.

Eigenvectors are defined only up to sign, and up to rotation inside a repeated eigenvalue.  The
file therefore stores the training mesh and the embedding's values at ``4k`` anchor vertices
(their positions and rows).  Decoding on any mesh — the training graph or another discretisation
of the same surface — recomputes that mesh's eigenvectors, reads them at the vertices nearest
the anchors, and finds the orthogonal ``k × k`` matrix (Procrustes, an SVD) that maps them onto
the stored anchor rows.  That fixes signs, rotations within eigenspaces and small reorderings
in one step.  See docs/FORMAT.md for the size cost.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from inrcli.errors import InrFileError, SignalReadError, UsageError
from inrcli.sampling import Sampler
from inrcli.signals.base import DecodePlan, MetricSpec, Preset, Signal, SignalKind, TrainingData, first_line, require
from inrcli.limits import DecodeBudget

DEFAULT_K = 100
ANCHORS_PER_DIMENSION = 4


class GraphKind(SignalKind):
    name = "graph"
    axes = 1  # the stored shape is (nodes,)
    partitionable = False  # nodes have no grid to partition
    default_arch = "siren"
    default_output = "npz"
    presets = {"*": Preset(lr=1e-3, sample_fraction=1.0, first_w0=1.0)}  # √n-scaled eigenvectors are O(1) and smooth
    metric_specs = {"r2": MetricSpec("R²"), "mse": MetricSpec("MSE", "", 6)}
    encode_options = frozenset({"k", "holdout"})
    decode_options = frozenset({"mesh"})

    def coordinate_dims(self, info: dict) -> int:
        return int(info["k"])

    def read(self, path: Path, ext: str) -> Signal:
        if ext == "npz":
            points, faces, edges, target = _read_npz(path)
        else:
            points, faces, edges, target = _read_mesh_with_signal(path, ext)
        if np.iscomplexobj(target) or not np.issubdtype(np.asarray(target).dtype, np.number):
            raise SignalReadError(f"{path.name}: target must hold real numbers, not {np.asarray(target).dtype}")
        target = np.asarray(target, dtype=np.float32)
        if target.ndim == 1:
            target = target[:, None]
        _check_graph(path.name, points, faces, edges, target)
        info = {"nodes": int(len(points))}
        return Signal(self.name, target, info, attachments={"points": points, "faces": faces, "edges": edges})

    def check_info(self, info: dict) -> None:
        require(info, "nodes", int, 3, 50_000_000)
        require(info, "k", int, 1, 1024)
        require(info, "anchors", int, 1, 50_000_000)

    def prepare(self, signal: Signal, options: dict) -> Signal:
        """Compute the spectral embedding (attachment ``embedding``) and the anchors.

        ``--k`` sets the embedding's size; ``--holdout F`` leaves that share of the nodes out of
        training (recorded in the description, so the file says what its model never saw)."""
        self.check_options(options, self.encode_options, "encodes")
        holdout = options.get("holdout") or 0.0
        if not 0 <= holdout < 1:
            raise UsageError("--holdout must be in [0, 1)")
        k = options.get("k")
        if k is not None and not 1 <= k <= 1024:
            raise UsageError("--k must be between 1 and 1024")
        if len(signal.values) - round(holdout * len(signal.values)) < 2:
            raise UsageError(f"--holdout {holdout} leaves fewer than 2 of the {len(signal.values)} nodes to train on")
        k = min(k or DEFAULT_K, len(signal.values) - 2)
        if k < 1:
            raise UsageError("the graph needs at least 3 nodes")
        points, faces, edges = (signal.attachments[key] for key in ("points", "faces", "edges"))
        embedding, eigenvalues = laplacian_embedding(len(points), _edge_list(faces, edges), k)
        anchors = anchor_indices(len(points), ANCHORS_PER_DIMENSION * k)
        info = {**signal.info, "k": k, "anchors": len(anchors), "faces": 0 if faces is None else len(faces),
                "edges": 0 if edges is None else len(edges), "eigenvalues": [round(float(e), 8) for e in eigenvalues],
                "holdout": holdout}
        attachments = {**signal.attachments, "embedding": embedding, "anchors": anchors}
        return Signal(self.name, signal.values, info, attachments)

    def sampler(self, data: TrainingData):
        return EmbeddingSampler(data.signal.attachments["embedding"], data.targets, data.signal.info["holdout"],
                                data.seed)

    def extra_tensors(self, signal: Signal) -> dict[str, np.ndarray]:
        """What the file stores besides the weights, so it decodes without the input."""
        a = signal.attachments
        tensors = {"graph.points": a["points"].astype(np.float32),
                   "graph.anchor_points": a["points"][a["anchors"]].astype(np.float32),
                   "graph.anchor_embedding": a["embedding"][a["anchors"]].astype(np.float32)}
        if a["faces"] is not None:
            tensors["graph.faces"] = a["faces"].astype(np.int32)
        if a["edges"] is not None:
            tensors["graph.edges"] = a["edges"].astype(np.int32)
        return tensors

    def expected_extras(self, info: dict, channels: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """Names, shapes and safetensors dtypes of the stored graph tensors, from the metadata."""
        try:
            nodes, k, anchors = int(info["nodes"]), int(info["k"]), int(info["anchors"])
            faces, edges = int(info.get("faces", 0)), int(info.get("edges", 0))
        except (KeyError, TypeError, ValueError):
            raise InrFileError("graph metadata lacks nodes, k or anchors") from None
        if not (3 <= nodes <= 50_000_000 and 1 <= k < nodes and 1 <= anchors <= nodes and faces + edges > 0):
            raise InrFileError("graph metadata is out of range")
        expected = {"graph.points": ((nodes, 3), "F32"), "graph.anchor_points": ((anchors, 3), "F32"),
                    "graph.anchor_embedding": ((anchors, k), "F32")}
        if faces:
            expected["graph.faces"] = ((faces, 3), "I32")
        if edges:
            expected["graph.edges"] = ((edges, 2), "I32")
        return expected

    def normalization(self, signal: Signal) -> tuple[float, float]:
        low, high = float(signal.values.min()), float(signal.values.max())
        return (low + high) / 2, max((high - low) / 2, 1e-12)

    def default_budget(self, signal: Signal) -> int:
        return 100_000

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{shape[0]} nodes"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """On the stored mesh, or with ``--mesh`` on another discretisation of the same surface
        (a mesh file, an ``.npz`` with points and faces/edges, or a dict of those arrays)."""
        self.check_options(options, self.decode_options, "decodes")
        mesh = options.get("mesh")
        if isinstance(mesh, str):
            mesh = read_mesh(mesh)
        nodes = description.shape if mesh is None else (len(mesh["points"]),)
        return DecodePlan(nodes, {**description.info, "nodes": nodes[0]}, target=mesh)

    def plan_for_reference(self, reference: Signal, description) -> tuple[Signal, DecodePlan, None]:
        """A graph is compared on the reference's own mesh (any discretisation of the surface)."""
        return reference, self.plan_decode(description, {"mesh": reference.attachments}), None

    def evaluate(self, inr, plan: DecodePlan, device, on_progress=None) -> np.ndarray:
        """Embed the plan's mesh (aligned to the stored anchors) and evaluate the network there."""
        from inrcli.inference import evaluate_points

        mesh = _decode_mesh(plan, inr.extras)
        embedding = aligned_embedding(mesh["points"], mesh["faces"], mesh["edges"], inr.signal.info["k"],
                                      inr.extras["graph.anchor_points"], inr.extras["graph.anchor_embedding"])
        values = evaluate_points(inr.model.to(device), torch.from_numpy(embedding), device)
        return values * np.float32(inr.signal.scale) + np.float32(inr.signal.offset)

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        return Signal(self.name, values, dict(plan.info), attachments=_decode_mesh(plan, inr.extras))

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        points, faces = signal.attachments["points"], signal.attachments.get("faces")
        if ext == "npz":
            arrays = {"points": points, "target": signal.values}
            if faces is not None:
                arrays["faces"] = faces
            if signal.attachments.get("edges") is not None:
                arrays["edges"] = signal.attachments["edges"]
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)
            return
        if faces is None:
            raise UsageError(f"a graph without faces cannot be written as .{ext}; write .npz")
        import trimesh

        mesh = trimesh.Trimesh(points, faces, process=False, vertex_colors=_colours(signal.values))
        for c in range(signal.values.shape[1]):
            mesh.vertex_attributes[f"value{c}" if signal.values.shape[1] > 1 else "value"] = signal.values[:, c]
        mesh.export(str(path), file_type=ext)

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """R² (1 − SS_res / SS_tot over all nodes and channels) and mean squared error."""
        ref, cand = reference.values.astype(np.float64), candidate.values.astype(np.float64)
        if ref.shape != cand.shape:
            raise UsageError(f"node counts differ: reference {ref.shape[0]}, candidate {cand.shape[0]}")
        residual = float(np.sum((ref - cand) ** 2))
        total = float(np.sum((ref - ref.mean(axis=0)) ** 2))
        return {"r2": round(1 - residual / total, 6) if total > 0 else None, "mse": float(residual / ref.size),
                "convention": "R² = 1 − Σ(ref − cand)² / Σ(ref − mean(ref))² over nodes and channels; "
                              "MSE in the signal's units"}


def _decode_mesh(plan: DecodePlan, extras: dict) -> dict:
    """The mesh a decode evaluates on: the plan's, else the one stored in the file."""
    mesh = plan.target or {"points": extras["graph.points"], "faces": extras.get("graph.faces"),
                           "edges": extras.get("graph.edges")}
    return {"points": mesh["points"], "faces": mesh.get("faces"), "edges": mesh.get("edges")}


def read_mesh(source: str) -> dict:
    """Vertices and faces of a mesh file (or an .npz with points and faces/edges) to decode onto."""
    from inrcli.files import input_path
    from inrcli.signals import resolve_format
    from inrcli.signals.shape import load_mesh

    with input_path(source) as path:
        ext = resolve_format(path, source, None)
        if ext == "npz":
            points, faces, edges, _ = _read_npz(path)
            return {"points": points, "faces": faces, "edges": edges}
        loaded = load_mesh(path, ext)
        return {"points": loaded.vertices, "faces": loaded.faces, "edges": None}


NPZ_MEMBERS = ("points", "faces", "edges", "target")


def _read_npz(path: Path):
    """Points, faces, edges and target of an .npz; other members are never read, and each member's
    size is checked from its .npy header before its data is (never unpickled)."""
    budget = DecodeBudget(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            present = [key for key in NPZ_MEMBERS if key in data.files]
            for key in present:
                shape = _npy_member_shape(data, key)
                budget.expect(math.prod(shape), f"{key} of shape {shape}")
                budget.take(math.prod(shape))
            arrays = {key: data[key] for key in present}
    except SignalReadError:
        raise
    except Exception as exc:  # zip and npy parsing errors
        raise SignalReadError(f"cannot read {path.name}: {first_line(exc)}") from None
    for key in ("points", "target"):
        if key not in arrays:
            raise SignalReadError(f"{path.name} lacks the array {key!r} (needs points, faces or edges, target)")
    faces, edges = arrays.get("faces"), arrays.get("edges")
    if faces is None and edges is None:
        raise SignalReadError(f"{path.name} has neither faces nor edges")
    return arrays["points"], faces, edges, arrays["target"]


def _npy_member_shape(npz, key: str) -> tuple[int, ...]:
    """The shape an .npz member's .npy header declares, read without its data."""
    with npz.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, _, _ = read_header(member)
    return tuple(int(n) for n in shape)


def _read_mesh_with_signal(path: Path, ext: str):
    """A mesh whose vertices carry the signal: PLY properties other than x, y, z, or colours."""
    import trimesh

    try:
        mesh = trimesh.load(str(path), file_type=ext, process=False, force="mesh")
    except Exception as exc:
        raise SignalReadError(f"cannot read mesh {path.name}: {first_line(exc)}") from None
    raw = mesh.metadata.get("_ply_raw", {}).get("vertex", {}).get("data") if hasattr(mesh, "metadata") else None
    extra = [n for n in (raw.dtype.names or ()) if n not in ("x", "y", "z", "nx", "ny", "nz", "red", "green", "blue",
                                                            "alpha")] if raw is not None else []
    if extra:
        target = np.stack([np.asarray(raw[n], dtype=np.float32) for n in extra], -1)
    elif mesh.visual.kind == "vertex":
        target = np.asarray(mesh.visual.vertex_colors[:, :3], dtype=np.float32) / 255.0
    else:
        raise SignalReadError(f"{path.name} carries no per-vertex signal (no extra PLY properties or colours)")
    return np.asarray(mesh.vertices), np.asarray(mesh.faces), None, target


def _check_graph(name: str, points, faces, edges, target) -> None:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) < 3:
        raise SignalReadError(f"{name}: points must be an (N, 3) array with N ≥ 3")
    if not np.all(np.isfinite(points)) or not np.all(np.isfinite(target)):
        raise SignalReadError(f"{name}: NaN or infinite values in points or target")
    if len(target) != len(points):
        raise SignalReadError(f"{name}: target has {len(target)} rows for {len(points)} points")
    for array, width, label in ((faces, 3, "faces"), (edges, 2, "edges")):
        if array is None:
            continue
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != width or len(array) == 0:
            raise SignalReadError(f"{name}: {label} must be a non-empty (M, {width}) array")
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() >= len(points):
            raise SignalReadError(f"{name}: {label} index points that do not exist")


def _edge_list(faces, edges) -> np.ndarray:
    parts = []
    if faces is not None:
        f = np.asarray(faces, dtype=np.int64)
        parts += [f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]
    if edges is not None:
        parts.append(np.asarray(edges, dtype=np.int64))
    return np.concatenate(parts)


def laplacian_embedding(nodes: int, edges: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``k`` eigenvectors of ``L = D − A`` (binary, symmetric A), times √n.

    Returns: ``(nodes, k)`` float32 and the ``(k,)`` eigenvalues, ascending.
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    edges = edges[edges[:, 0] != edges[:, 1]]
    adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(nodes, nodes)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    laplacian = sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    v0 = np.random.default_rng(0).standard_normal(nodes)  # a fixed start: same graph, same vectors
    # shift-invert just below 0 (L is singular at 0): the smallest eigenvalues converge fast
    values, vectors = eigsh(laplacian.tocsc(), k=k, sigma=-1e-3, which="LM", v0=v0)
    order = np.argsort(values)
    return (vectors[:, order] * np.sqrt(nodes)).astype(np.float32), values[order]


def anchor_indices(nodes: int, count: int) -> np.ndarray:
    """``count`` evenly spread node indices (all nodes if fewer)."""
    return np.unique(np.linspace(0, nodes - 1, min(count, nodes)).round().astype(np.int64))


def aligned_embedding(points: np.ndarray, faces, edges, k: int, anchor_points: np.ndarray,
                      anchor_embedding: np.ndarray) -> np.ndarray:
    """This mesh's embedding, rotated to agree with the stored anchors: ``(n, k)`` float32."""
    from scipy.spatial import cKDTree

    embedding, _ = laplacian_embedding(len(points), _edge_list(faces, edges), k)
    nearest = cKDTree(points).query(anchor_points)[1]
    u, _, vt = np.linalg.svd(embedding[nearest].astype(np.float64).T @ anchor_embedding.astype(np.float64))
    return (embedding @ (u @ vt)).astype(np.float32)


def _colours(values: np.ndarray) -> np.ndarray:
    """Per-vertex RGBA: the first channel, min to max, through a blue–white–red ramp."""
    v = values[:, 0]
    t = (v - v.min()) / max(float(np.ptp(v)), 1e-12)
    red = np.clip(2 * t, 0, 1)
    blue = np.clip(2 - 2 * t, 0, 1)
    green = 1 - np.abs(2 * t - 1)
    rgb = np.stack([red, np.minimum(red, blue) * 0 + green, blue], -1)
    return np.concatenate([np.rint(rgb * 255), np.full((len(v), 1), 255)], -1).astype(np.uint8)


class EmbeddingSampler(Sampler):
    """Full batches of (embedding, target) over the training nodes.

    ``holdout`` leaves that share of the nodes (every ``1/holdout``-th of a random order) out of
    training so that generalisation can be measured on them.
    """

    def __init__(self, embedding: np.ndarray, targets: torch.Tensor, holdout: float, seed: int):
        nodes = len(embedding)
        order = np.random.default_rng(seed).permutation(nodes)
        held = order[: int(round(holdout * nodes))]
        keep = np.setdiff1d(np.arange(nodes), held)
        self.held_out = held
        self.coords = torch.from_numpy(embedding[keep])[None]
        self.targets = targets.reshape(nodes, -1)[torch.from_numpy(keep)][None]
        self.batch_points = len(keep)

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.coords, self.targets
