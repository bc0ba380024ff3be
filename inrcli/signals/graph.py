"""Signals on meshes and graphs: generalised INRs (Grattarola & Vandergheynst, 2022).

A node's coordinate is its row of the first ``k`` eigenvectors of a Laplacian of the mesh
(:mod:`inrcli.signals.graph_spectral`): the cotangent Laplacian with its mass matrix where the
input has faces, so that two discretisations of one surface get the same embedding; the
combinatorial ``D − A`` for a graph given by edges alone.  An MLP maps that embedding — and, for
a signal over time, the time as one more coordinate — to the signal.

Eigenvectors are defined only up to sign, and up to rotation inside a repeated eigenvalue.  The
file therefore stores the training mesh and the embedding's values at ``4k`` anchor vertices
(their positions and rows).  Decoding on any mesh — the training graph or another discretisation
of the same surface — recomputes that mesh's eigenvectors, reads them at the vertices nearest
the anchors, and finds the orthogonal ``k × k`` matrix (Procrustes, an SVD) that maps them onto
the stored anchor rows.  That fixes signs, rotations within eigenspaces and small reorderings
in one step.  See docs/FORMAT.md for the size cost.

``--k auto`` and ``--laplacian auto`` (the defaults) train a short run for each candidate (both
Laplacians of a mesh × a few sizes) on 90% of the training nodes, keep the one whose remaining
10% score best, and then train it on every training node with the rest of the budget.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from inrcli.errors import InrFileError, SignalReadError, UsageError
from inrcli.sampling import Sampler
from inrcli.signals.base import DecodePlan, MetricSpec, Preset, Signal, SignalKind, TrainingData, first_line, require
from inrcli.signals.graph_spectral import LAPLACIANS, align, anchor_indices, default_laplacian, spectral_embedding
from inrcli.limits import DecodeBudget

K_CANDIDATES = (10, 30, 100)  # --k auto tries these (fewer where the graph is small)
SEARCH_SHARE = 0.3  # of the training budget, shared among the candidates of the search
VALIDATION = 0.1  # share of the training nodes a candidate of --k auto is scored on
ANCHORS_PER_DIMENSION = 4
MAX_DECODE_TIMES = 100_000


class GraphKind(SignalKind):
    name = "graph"
    axes = 1  # the stored shape is (nodes,), or (times × nodes,) for a signal over time
    partitionable = False  # nodes have no grid to partition
    default_arch = "siren"
    default_output = "npz"
    frame_kind = "graph"  # a decode at several times may be written as numbered files
    format_major = 3  # the cotangent embedding and time changed how a graph file decodes
    # M-normalised eigenvectors are O(1) and smooth: first ω0 1.  Hidden ω0 15, not 30: on spot it
    # keeps training R² above 0.99 and interpolates between nodes better (bench/RESULTS.md, issue 17)
    presets = {"*": Preset(lr=1e-3, sample_fraction=1.0, first_w0=1.0, w0=15.0)}
    metric_specs = {"r2": MetricSpec("R²"), "mse": MetricSpec("MSE", "", 6)}
    encode_options = frozenset({"k", "holdout", "laplacian", "validation"})
    decode_options = frozenset({"mesh", "time", "times"})

    def coordinate_dims(self, info: dict) -> int:
        return int(info["k"]) + (1 if "times" in info else 0)

    def read(self, path: Path, ext: str) -> Signal:
        time = None
        if ext == "npz":
            points, faces, edges, target, time = _read_npz(path)
        else:
            points, faces, edges, target = _read_mesh_with_signal(path, ext)
        if np.iscomplexobj(target) or not np.issubdtype(np.asarray(target).dtype, np.number):
            raise SignalReadError(f"{path.name}: target must hold real numbers, not {np.asarray(target).dtype}")
        target = np.asarray(target, dtype=np.float32)
        info = {"nodes": int(len(points))}
        if time is not None:
            time, target = _check_time(path.name, time, target, len(points))
            info["times"] = len(time)
        elif target.ndim == 1:
            target = target[:, None]
        _check_graph(path.name, points, faces, edges, target[: len(points)] if time is not None else target)
        attachments = {"points": points, "faces": faces, "edges": edges, "time": time}
        return Signal(self.name, target, info, attachments=attachments)

    def check_info(self, info: dict) -> None:
        require(info, "nodes", int, 3, 50_000_000)
        require(info, "k", int, 1, 1024)
        require(info, "anchors", int, 1, 50_000_000)
        require(info, "laplacian", str, choices=set(LAPLACIANS), optional=True)  # absent: combinatorial (format 1, 2)
        require(info, "times", int, 1, 1_000_000, optional=True)

    def index_limit(self, description) -> int:
        return int(description.info["nodes"])

    def search(self, signal: Signal, options: dict, trial) -> tuple[dict, dict | None]:
        """``--k auto`` and ``--laplacian auto`` (the defaults): the candidate whose short training
        run scores best on validation nodes.  A mesh tries both Laplacians (neither wins on every
        surface: bench/RESULTS.md, issue 17), a graph of edges the combinatorial one.

        ``trial(options, share)`` trains on ``share`` of the budget and returns the held-out R²
        of the nodes ``validation`` set aside (never the user's ``--holdout`` nodes)."""
        k, laplacian = _k_option(options.get("k")), options.get("laplacian") or "auto"
        a = signal.attachments
        if laplacian == "auto":
            default = default_laplacian(a["points"], a["faces"], a["edges"])
            laplacians = list(LAPLACIANS) if default == "cotangent" else [default]
        else:
            laplacians = [_laplacian_option(laplacian, a["points"], a["faces"], a["edges"])]
        usable = signal.info["nodes"] - 2
        sizes = [k] if k != "auto" else [c for c in K_CANDIDATES if c <= usable] or [max(1, usable)]
        candidates = [(lap, size) for lap in laplacians for size in sizes]
        if len(candidates) == 1:
            return {**options, "laplacian": candidates[0][0], "k": candidates[0][1]}, None
        share = round(SEARCH_SHARE / len(candidates), 6)
        scores = {(lap, size): trial({**options, "laplacian": lap, "k": size, "validation": VALIDATION}, share)
                  for lap, size in candidates}
        best = max(candidates, key=lambda c: -math.inf if scores[c] is None else scores[c])
        if scores[best] is None or scores[best] <= 0:
            # no candidate predicts unseen nodes better than their mean (a pattern that changes
            # from node to node): held-out nodes give no guidance, so take what fits best
            best = (laplacians[0], max(sizes))
        record = {"laplacian": best[0], "k": best[1], "share": share,
                  "validation_r2": {f"{lap} k={size}": score for (lap, size), score in scores.items()}}
        return {**options, "laplacian": best[0], "k": best[1]}, record

    def search_share(self, record: dict | None) -> float:
        """Share of the training budget the search used (the final fit gets the rest)."""
        return 0.0 if record is None else record["share"] * len(record["validation_r2"])

    def prepare(self, signal: Signal, options: dict) -> Signal:
        """Compute the spectral embedding (attachment ``embedding``) and the anchors.

        ``--k`` sets the embedding's size; ``--holdout F`` leaves that share of the nodes out of
        training (recorded in the description, so the file says what its model never saw);
        ``--laplacian`` overrides the choice of cotangent (meshes) or combinatorial (edges)."""
        self.check_options(options, self.encode_options, "encodes")
        nodes = signal.info["nodes"]
        holdout, validation = options.get("holdout") or 0.0, options.get("validation") or 0.0
        if not 0 <= holdout < 1:
            raise UsageError("--holdout must be in [0, 1)")
        if nodes - round(holdout * nodes) - round(validation * nodes) < 2:
            raise UsageError(f"--holdout {holdout} leaves fewer than 2 of the {nodes} nodes to train on")
        k = _k_option(options.get("k"))
        k = min(K_CANDIDATES[-1] if k == "auto" else k, nodes - 2)
        if k < 1:
            raise UsageError("the graph needs at least 3 nodes")
        points, faces, edges = (signal.attachments[key] for key in ("points", "faces", "edges"))
        laplacian = _laplacian_option(options.get("laplacian"), points, faces, edges)
        embedding, eigenvalues = spectral_embedding(points, faces, edges, k, laplacian)
        anchors = anchor_indices(nodes, ANCHORS_PER_DIMENSION * k)
        info = {**signal.info, "k": k, "laplacian": laplacian, "anchors": len(anchors),
                "faces": 0 if faces is None else len(faces), "edges": 0 if edges is None else len(edges),
                "eigenvalues": [round(float(e), 8) for e in eigenvalues], "holdout": holdout}
        if validation:
            info["validation"] = validation
        attachments = {**signal.attachments, "embedding": embedding, "anchors": anchors}
        return Signal(self.name, signal.values, info, attachments)

    def sampler(self, data: TrainingData):
        info, a = data.signal.info, data.signal.attachments
        time = None if a.get("time") is None else time_coordinates(a["time"], a["time"])
        return EmbeddingSampler(a["embedding"], time, data.targets, (info["holdout"], info.get("validation", 0.0)),
                                data.fraction, data.seed)

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
        if a.get("time") is not None:
            tensors["graph.times"] = a["time"].astype(np.float32)
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
        if "times" in info:
            expected["graph.times"] = ((int(info["times"]),), "F32")
        return expected

    def normalization(self, signal: Signal) -> tuple[float, float]:
        low, high = float(signal.values.min()), float(signal.values.max())
        return (low + high) / 2, max((high - low) / 2, 1e-12)

    def default_budget(self, signal: Signal) -> int:
        return 100_000

    def size_text(self, shape: tuple[int, ...]) -> str:
        times = f" at {shape[0]} time{'s' if shape[0] != 1 else ''}" if len(shape) == 2 else ""
        return f"{shape[-1]} nodes{times}"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """On the stored mesh, or with ``--mesh`` on another discretisation of the same surface
        (a mesh file, an ``.npz`` with points and faces/edges, or a dict of those arrays); a
        signal over time at its training times, or at ``--time T`` / ``--times START:STOP:COUNT``."""
        self.check_options(options, self.decode_options, "decodes")
        mesh = options.get("mesh")
        if isinstance(mesh, str):
            mesh = read_mesh(mesh)
        times = _decode_times(options, "times" in description.info)
        nodes = description.info["nodes"] if mesh is None else len(mesh["points"])
        info = {**description.info, "nodes": nodes}
        target = None if mesh is None and times is None else {**(mesh or {}), "times": times}
        if "times" not in description.info:
            return DecodePlan((nodes,), info, target=target)
        count = description.info["times"] if times is None else len(times)
        return DecodePlan((count, nodes), {**info, "times": count}, target=target)

    def plan_for_reference(self, reference: Signal, description) -> tuple[Signal, DecodePlan, None]:
        """A graph is compared on the reference's own mesh (any discretisation of the surface),
        and a signal over time at the reference's times."""
        time = reference.attachments.get("time")
        if (time is None) != ("times" not in description.info):
            has, lacks = ("the reference", "the file") if time is not None else ("the file", "the reference")
            raise UsageError(f"{has} holds a signal over time and {lacks} does not")
        mesh = {key: reference.attachments[key] for key in ("points", "faces", "edges")}
        options = {"mesh": mesh} if time is None else {"mesh": mesh, "times": time}
        return reference, self.plan_decode(description, options), None

    def evaluate(self, inr, plan: DecodePlan, device, on_progress=None) -> np.ndarray:
        """Embed the plan's mesh (aligned to the stored anchors) and evaluate the network there,
        one time after another for a signal over time: ``(times × nodes, C)`` float32."""
        from inrcli.inference import check_decode_memory, evaluate_points

        mesh = _decode_mesh(plan, inr.extras)
        info = inr.signal.info
        embedding, _ = spectral_embedding(mesh["points"], mesh["faces"], mesh["edges"], info["k"],
                                          info.get("laplacian", "combinatorial"))
        embedding = align(embedding, mesh["points"], inr.extras["graph.anchor_points"],
                          inr.extras["graph.anchor_embedding"])
        model = inr.model.to(device)
        if "times" not in info:
            values = evaluate_points(model, torch.from_numpy(embedding), device)
        else:
            coordinates = time_coordinates(mesh["time"], inr.extras["graph.times"])
            check_decode_memory((len(coordinates), len(embedding)), inr.signal.channels)
            values = np.concatenate([evaluate_points(model, torch.from_numpy(_with_time(embedding, c)), device)
                                     for c in coordinates])
        return values * np.float32(inr.signal.scale) + np.float32(inr.signal.offset)

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        return Signal(self.name, values, dict(plan.info), attachments=_decode_mesh(plan, inr.extras))

    def frames(self, signal: Signal) -> list[Signal]:
        """A signal over time as one graph per time (each written to its own numbered file)."""
        time = signal.attachments.get("time")
        if time is None:
            raise UsageError("numbered outputs need a graph encoded over time; name one output file")
        nodes, mesh = len(signal.attachments["points"]), {**signal.attachments, "time": None}
        return [Signal(self.name, signal.values[i * nodes:(i + 1) * nodes], dict(signal.info),
                       attachments=mesh) for i, t in enumerate(time)]

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        points, faces = signal.attachments["points"], signal.attachments.get("faces")
        time = signal.attachments.get("time")
        if ext == "npz":
            values = signal.values
            if time is not None:  # (times, nodes) as read, or (times, nodes, C)
                values = values.reshape(len(time), len(points), -1)
                values = values[..., 0] if values.shape[-1] == 1 else values
            arrays = {"points": points, "target": values}
            for key in ("faces", "edges", "time"):
                if signal.attachments.get(key) is not None:
                    arrays[key] = signal.attachments[key]
            with open(path, "wb") as handle:
                np.savez(handle, **arrays)
            return
        if time is not None and len(time) != 1:
            raise UsageError(f"a graph at {len(time)} times cannot be written as one .{ext}; write .npz, "
                             f"or numbered files such as frames/%03d.{ext}")
        if faces is None:
            raise UsageError(f"a graph without faces cannot be written as .{ext}; write .npz")
        import trimesh

        mesh = trimesh.Trimesh(points, faces, process=False, vertex_colors=_colours(signal.values))
        for c in range(signal.values.shape[1]):
            mesh.vertex_attributes[f"value{c}" if signal.values.shape[1] > 1 else "value"] = signal.values[:, c]
        mesh.export(str(path), file_type=ext)

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """R² (1 − SS_res / SS_tot over all nodes, times and channels) and mean squared error."""
        ref, cand = reference.values.astype(np.float64), candidate.values.astype(np.float64)
        if ref.shape != cand.shape:
            raise UsageError(f"node counts differ: reference {ref.shape[0]}, candidate {cand.shape[0]}")
        residual = float(np.sum((ref - cand) ** 2))
        total = float(np.sum((ref - ref.mean(axis=0)) ** 2))
        return {"r2": round(1 - residual / total, 6) if total > 0 else None, "mse": float(residual / ref.size),
                "convention": "R² = 1 − Σ(ref − cand)² / Σ(ref − mean(ref))² over nodes, times and "
                              "channels; MSE in the signal's units"}


def _k_option(value) -> int | str:
    """``--k``: ``"auto"`` (also for None) or a whole number 1…1024 (given as a number or text)."""
    if value is None or value == "auto":
        return "auto"
    try:
        k = int(value)
    except (TypeError, ValueError):
        k = 0
    if isinstance(value, (bool, float)) or k != value and str(k) != str(value).strip() or not 1 <= k <= 1024:
        raise UsageError(f"--k must be auto or a whole number between 1 and 1024, got {value!r}")
    return k


def _laplacian_option(choice, points, faces, edges) -> str:
    """The Laplacian asked for, or the default for this input; a cotangent one needs faces."""
    if choice in (None, "auto"):
        return default_laplacian(points, faces, edges)
    if choice not in LAPLACIANS:
        raise UsageError(f"--laplacian must be one of {', '.join(LAPLACIANS)}, got {choice!r}")
    if choice == "cotangent" and default_laplacian(points, faces, edges) != "cotangent":
        raise UsageError("--laplacian cotangent needs faces covering every vertex (and no separate edges)")
    return choice


def time_coordinates(times: np.ndarray, trained: np.ndarray) -> np.ndarray:
    """Times ``(T,)`` as the network's time coordinate: the training times' range mapped to
    [−1, 1] (0 when they are all one time): ``(T,)`` float32."""
    low, high = float(np.min(trained)), float(np.max(trained))
    times = np.asarray(times, dtype=np.float64)
    if high <= low:
        return np.zeros(len(times), np.float32)
    return (2 * (times - low) / (high - low) - 1).astype(np.float32)


def _with_time(embedding: np.ndarray, coordinate: float) -> np.ndarray:
    """``(n, k)`` embedding with the time coordinate as column ``k``: ``(n, k + 1)`` float32."""
    return np.concatenate([embedding, np.full((len(embedding), 1), coordinate, np.float32)], axis=1)


def _decode_times(options: dict, over_time: bool) -> np.ndarray | None:
    """``--time T`` or ``--times START:STOP:COUNT`` (an array is taken as it is): ``(T,)`` or None."""
    time, times = options.get("time"), options.get("times")
    if time is None and times is None:
        return None
    if not over_time:
        raise UsageError("--time and --times apply to a graph encoded over time (an .npz with time)")
    if time is not None and times is not None:
        raise UsageError("give --time or --times, not both")
    if time is not None:
        times = np.array([float(time)])
    elif isinstance(times, str):
        try:
            start, stop, count = times.split(":")
            start, stop, count = float(start), float(stop), int(count)
        except ValueError:
            raise UsageError(f"--times: expected START:STOP:COUNT such as 0:1:100, got {times!r}") from None
        if not 1 <= count <= MAX_DECODE_TIMES:
            raise UsageError(f"--times: COUNT must be between 1 and {MAX_DECODE_TIMES:,}")
        times = np.linspace(start, stop, count)
    times = np.asarray(times, dtype=np.float64).ravel()
    if not len(times) or not np.all(np.isfinite(times)):
        raise UsageError("--time and --times need finite times")
    return times


def _decode_mesh(plan: DecodePlan, extras: dict) -> dict:
    """The mesh a decode evaluates on — the plan's, else the one stored in the file — and its
    times (the plan's, else the stored training times; None for a signal without time)."""
    target = plan.target or {}
    mesh = target if "points" in target else {"points": extras["graph.points"], "faces": extras.get("graph.faces"),
                                               "edges": extras.get("graph.edges")}
    time = target.get("times")
    if time is None and "graph.times" in extras:
        time = extras["graph.times"].astype(np.float64)
    return {"points": mesh["points"], "faces": mesh.get("faces"), "edges": mesh.get("edges"), "time": time}


def read_mesh(source: str) -> dict:
    """Vertices and faces of a mesh file (or an .npz with points and faces/edges) to decode onto."""
    from inrcli.files import input_path
    from inrcli.signals import resolve_format
    from inrcli.signals.shape import load_mesh

    with input_path(source) as path:
        ext = resolve_format(path, source, None)
        if ext == "npz":
            points, faces, edges, _, _ = _read_npz(path)
            return {"points": points, "faces": faces, "edges": edges}
        loaded = load_mesh(path, ext)
        return {"points": loaded.vertices, "faces": loaded.faces, "edges": None}


NPZ_MEMBERS = ("points", "faces", "edges", "target", "time")


def _read_npz(path: Path):
    """Points, faces, edges, target and time (None if absent) of an .npz; other members are never
    read, and each member's size is checked from its .npy header before its data is (never
    unpickled)."""
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
    faces, edges, target, time = arrays.get("faces"), arrays.get("edges"), arrays.get("target"), arrays.get("time")
    if target is None:
        raise SignalReadError(f"{path.name} lacks the array 'target' (needs points, faces or edges, target)")
    if faces is None and edges is None:
        raise SignalReadError(f"{path.name} has neither faces nor edges")
    points = arrays.get("points")
    if points is None:
        if faces is not None:
            raise SignalReadError(f"{path.name} has faces but no points")
        points = index_points(target.shape[1] if time is not None and target.ndim > 1 else len(target))
    return points, faces, edges, target, time


def index_points(nodes: int) -> np.ndarray:
    """Positions for a graph without geometry: node ``i`` at ``(i, 0, 0)``: ``(nodes, 3)`` float32.

    They only let the anchors find their nodes again on the same graph (float32 holds every
    index below 2²⁴ exactly); on another graph, node ``i`` is taken for node ``i``."""
    return np.c_[np.arange(nodes, dtype=np.float32), np.zeros((nodes, 2), np.float32)]


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


def _check_time(name: str, time, target: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """A signal over time: ``time (T,)`` increasing, ``target (T, N)`` or ``(T, N, C)``.
    Returns the times as float64 and the target as ``(T·N, C)``, time-major."""
    time = np.asarray(time)
    if time.ndim != 1 or not np.issubdtype(time.dtype, np.number) or np.iscomplexobj(time) or not len(time):
        raise SignalReadError(f"{name}: time must be a (T,) array of real numbers")
    time = time.astype(np.float64)
    if not np.all(np.isfinite(time)) or np.any(np.diff(time) <= 0):
        raise SignalReadError(f"{name}: time must be finite and strictly increasing")
    if target.ndim not in (2, 3) or target.shape[:2] != (len(time), nodes):
        raise SignalReadError(f"{name}: with time ({len(time)} times), target must be (T, N) or (T, N, C) = "
                              f"({len(time)}, {nodes}[, C]), not {target.shape}")
    return time, target.reshape(len(time) * nodes, -1)


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
    """Batches of (embedding [, time], target) over the training nodes.

    ``shares = (holdout, validation)``: a random order of the nodes (fixed by the seed) puts its
    first ``holdout`` share out of training and out of any score, and the next ``validation``
    share out of training too, to be scored (``--k auto`` compares candidates on them).  Without
    validation nodes the held-out nodes are the scored ones.  A signal without time trains on
    every training node at every step; one over time draws ``fraction × nodes`` random
    (node, time) pairs per step, so a step costs the same whatever the number of times.
    """

    def __init__(self, embedding: np.ndarray, time: np.ndarray | None, targets: torch.Tensor,
                 shares: tuple[float, float], fraction: float, seed: int):
        nodes = len(embedding)
        order = np.random.default_rng(seed).permutation(nodes)
        held, validation = int(round(shares[0] * nodes)), int(round(shares[1] * nodes))
        scored = order[held:held + validation] if validation else order[:held]
        keep = np.sort(order[held + validation:])
        times = 1 if time is None else len(time)
        self.held_out = (np.arange(times)[:, None] * nodes + np.sort(scored)[None]).ravel()  # rows of the signal
        coords = embedding[keep] if time is None else np.concatenate(
            [np.repeat(embedding[keep][None], times, 0), np.broadcast_to(time[:, None, None], (times, len(keep), 1))],
            axis=2).reshape(times * len(keep), -1)
        rows = (np.arange(times)[:, None] * nodes + keep[None]).ravel()
        self.coords = torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float32))
        self.targets = targets.reshape(times * nodes, -1)[torch.from_numpy(rows)]
        self.batch_points = len(rows) if time is None else min(len(rows), max(1, round(fraction * len(keep))))

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch_points == len(self.coords):
            return self.coords[None], self.targets[None]
        pick = torch.randint(len(self.coords), (self.batch_points,), generator=generator)
        return self.coords[pick][None], self.targets[pick][None]
