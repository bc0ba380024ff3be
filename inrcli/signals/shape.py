"""3D shapes: surface meshes (OBJ, PLY, STL, OFF, GLB through trimesh) as occupancy or signed
distance fields.

The mesh is moved and scaled into the cube [-1, 1]³ (with a 5% margin); the transform is stored
so decodes come back at the original place and size.  Inside/outside comes from generalised
winding numbers (libigl), which are right for open and self-intersecting meshes too.

The in-memory signal is the field sampled on a ``resolution³`` grid (values ``(R, R, R, 1)``):
occupancy in {0, 1} or the signed distance (negative inside).  Training uses points sampled
uniformly and densely near the surface, not the grid.  Decoding evaluates the network on any
grid; writing a mesh format runs marching cubes (scikit-image) on it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from inrcli.errors import InrFileError, SignalReadError, UsageError
from inrcli.grid import Partitioning, sample_centres
from inrcli.sampling import Sampler
from inrcli.signals.base import (DecodePlan, MetricSpec, Preset, Signal, SignalKind, TrainingData, first_line,
                                 require)

RESOLUTION = 128  # grid of the stored signal: IoU is measured on it and partitions are cut on it
MARGIN = 1.05  # the mesh's largest half-extent maps to 1 / MARGIN
POOL_POINTS = 1 << 20  # training points drawn once (half uniform, half near the surface)
SDF_CLAMP = 0.1  # signed distances are clamped to ±this (normalised units) for training
EVAL_SURFACE_POINTS = 100_000
FSCORE_THRESHOLD = 0.01  # of the bounding-box diagonal
SPECK_SHARE = 0.01  # connected pieces with fewer faces than this share of the largest are dropped


class ShapeKind(SignalKind):
    name = "shape"
    axes = 3
    default_output = "ply"
    viewed_as_surface = True
    # sample_fraction: the share of the point pool per step is set by PointSampler.batch_points
    presets = {"*": Preset(lr=1e-3, sample_fraction=1.0)}
    presets["lg-siren"] = presets["*"].with_model(partition_size=32, global_width=32)  # 4×4×4 on the 128³ grid
    metric_specs = {"iou": MetricSpec("IoU"), "chamfer": MetricSpec("Chamfer", "", 6),
                    "fscore": MetricSpec("F-score")}
    encode_options = frozenset({"field"})
    decode_options = frozenset({"scale", "resolution"})

    def read(self, path: Path, ext: str) -> Signal:
        mesh = load_mesh(path, ext)
        center, scale = _normalising_transform(mesh.vertices)
        vertices = (mesh.vertices - center) / scale
        if not _face_areas(vertices, mesh.faces).sum() > 0:  # training samples its surface by area
            raise SignalReadError(f"{path.name}: its faces have no area at the scale of its bounding box "
                                  f"(all faces degenerate, or a vertex far from the rest)")
        field = "occupancy"
        values = _field_on_grid(vertices, mesh.faces, RESOLUTION, field)
        info = {"field": field, "center": center.tolist(), "scale": float(scale), "resolution": RESOLUTION}
        return Signal(self.name, values, info, attachments={"vertices": vertices, "faces": mesh.faces})

    def check_info(self, info: dict) -> None:
        require(info, "field", str, choices={"occupancy", "sdf"})
        require(info, "scale", (int, float), 1e-30, 1e30)
        require(info, "resolution", int, 2, 4096)
        center = info.get("center")
        if not (isinstance(center, list) and len(center) == 3 and all(
                isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in center)):
            raise InrFileError("shape metadata 'center' is not three finite numbers")

    def prepare(self, signal: Signal, options: dict) -> Signal:
        """``--field occupancy|sdf`` chooses the field the network learns."""
        self.check_options(options, self.encode_options, "encodes")
        return signal if options.get("field") is None else self.with_field(signal, options["field"])

    def with_field(self, signal: Signal, field: str) -> Signal:
        """The same shape as an ``occupancy`` or ``sdf`` field."""
        if field not in ("occupancy", "sdf"):
            raise UsageError("--field must be occupancy or sdf")
        if field == signal.info["field"]:
            return signal
        vertices, faces = signal.attachments["vertices"], signal.attachments["faces"]
        values = _field_on_grid(vertices, faces, signal.info["resolution"], field)
        return Signal(self.name, values, {**signal.info, "field": field}, attachments=signal.attachments)

    def sampler(self, data: TrainingData):
        """Points in continuous space, not the grid: see :class:`PointSampler`."""
        return PointSampler(data.signal, data.partitioning, data.seed)

    def loss(self, signal: Signal) -> str:
        return "bce" if signal.info["field"] == "occupancy" else "l1"

    def write(self, signal: Signal, path: Path, ext: str, options: dict) -> None:
        if ext == "npy":
            np.save(path, signal.values[..., 0], allow_pickle=False)
            return
        mesh = to_mesh(signal, clean=not options.get("keep_specks"))
        mesh.export(str(path), file_type=ext)

    def normalization(self, signal: Signal) -> tuple[float, float]:
        return 0.0, 1.0

    def default_budget(self, signal: Signal) -> int:
        return 200_000

    def size_text(self, shape: tuple[int, ...]) -> str:
        return f"{'×'.join(map(str, shape))} grid"

    def plan_decode(self, description, options: dict) -> DecodePlan:
        """``--resolution`` (samples per axis across the whole cube) or ``--scale`` of the stored grid."""
        self.check_options(options, self.decode_options, "decodes")
        factor = options.get("scale") if options.get("scale") is not None else 1.0
        resolution = options.get("resolution")
        if resolution is not None:
            if resolution < 2:
                raise UsageError("--resolution must be at least 2")  # too large ones fail the memory check
            factor = resolution / description.info["resolution"]
        if not factor > 0:
            raise UsageError("--scale must be positive")
        return DecodePlan(tuple(max(2, round(n * factor)) for n in description.shape), dict(description.info))

    def view_surface(self, inr) -> tuple[np.ndarray, np.ndarray]:
        """Marching cubes on the decode at the stored resolution (what ``inr decode -o x.ply``
        meshes), in normalised coordinates."""
        from inrcli import api

        mesh = to_mesh(api.decode(inr))
        vertices = (mesh.vertices - np.array(inr.signal.info["center"])) / float(inr.signal.info["scale"])
        return vertices.astype(np.float32), np.asarray(mesh.faces)

    def finish(self, values: np.ndarray, plan: DecodePlan, inr) -> Signal:
        if plan.info["field"] == "occupancy":  # the network gives logits
            values = 1.0 / (1.0 + np.exp(-np.clip(values, -60, 60)))
        # marching cubes places the surface in the window the file covers (a crop is a part of the cube)
        window = [[2 * lo / n - 1, 2 * hi / n - 1] for (lo, hi), n in zip(inr.signal.window, inr.signal.full_shape)]
        return Signal(self.name, values.astype(np.float32, copy=False), {**plan.info, "window_coords": window})

    def metrics(self, reference: Signal, candidate: Signal, quick: bool = False) -> dict:
        """Volumetric IoU on the reference's grid; Chamfer distance and F-score on surface samples."""
        inside_ref, inside_cand = _inside(reference), _inside(candidate)
        union = np.logical_or(inside_ref, inside_cand).sum()
        iou = float(np.logical_and(inside_ref, inside_cand).sum() / union) if union else 1.0
        result = {"iou": round(iou, 6)}
        if quick:
            return result
        ref_points = _inside_box(surface_points(reference), candidate.info.get("window_coords"))
        cand_points = surface_points(candidate)
        diagonal = float(np.linalg.norm(np.ptp(ref_points, axis=0))) if len(ref_points) else 1.0
        if len(cand_points) == 0:
            result |= {"chamfer": None, "fscore": 0.0}
        else:
            from scipy.spatial import cKDTree

            d_ref = cKDTree(cand_points).query(ref_points)[0] / diagonal
            d_cand = cKDTree(ref_points).query(cand_points)[0] / diagonal
            precision = float(np.mean(d_cand < FSCORE_THRESHOLD))
            recall = float(np.mean(d_ref < FSCORE_THRESHOLD))
            fscore = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            result |= {"chamfer": round(float(d_ref.mean() + d_cand.mean()) / 2, 6), "fscore": round(fscore, 6)}
        n = reference.values.shape[0]
        result["convention"] = (f"IoU of inside/outside on a {n}³ grid over the normalised cube; Chamfer = mean of the "
                                f"two mean nearest-surface distances between {EVAL_SURFACE_POINTS:,} surface samples "
                                f"each, divided by the reference's bounding-box diagonal; F-score at "
                                f"{FSCORE_THRESHOLD:.0%} of the diagonal")
        return result


def load_mesh(path: Path, ext: str):
    """A triangle mesh from any format trimesh reads, checked for the usual defects."""
    import trimesh

    try:
        loaded = trimesh.load(str(path), file_type=ext, process=False)
        if isinstance(loaded, trimesh.Scene):
            loaded = loaded.to_mesh() if loaded.geometry else None
    except Exception as exc:  # trimesh raises many types on broken files
        raise SignalReadError(f"cannot read mesh {path.name}: {first_line(exc)}") from None
    if isinstance(loaded, trimesh.PointCloud) or (isinstance(loaded, trimesh.Trimesh) and len(loaded.faces) == 0
                                                  and len(loaded.vertices)):
        raise SignalReadError(f"{path.name} has no faces (a point cloud is not a surface)")
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.vertices) == 0:
        raise SignalReadError(f"{path.name} holds no mesh")
    if len(loaded.faces) == 0:
        raise SignalReadError(f"{path.name} has no faces (a point cloud is not a surface)")
    vertices, faces = np.asarray(loaded.vertices), np.asarray(loaded.faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise SignalReadError(f"{path.name}: vertices must have 3 coordinates and faces 3 corners "
                              f"(vertices {vertices.shape}, faces {faces.shape})")
    if faces.min() < 0 or faces.max() >= len(loaded.vertices):
        # libigl trusts its indices: one past the vertex list crashes the interpreter
        raise SignalReadError(f"{path.name} has faces that index vertices which do not exist "
                              f"({len(loaded.vertices)} vertices, indices {faces.min()}…{faces.max()})")
    if not np.all(np.isfinite(loaded.vertices)):
        raise SignalReadError(f"{path.name} has NaN or infinite vertex coordinates")
    if np.ptp(loaded.vertices, axis=0).max() <= 0:
        raise SignalReadError(f"{path.name} has a degenerate bounding box (all vertices coincide)")
    return loaded


def _normalising_transform(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    return (low + high) / 2, float((high - low).max() / 2 * MARGIN)


def grid_points(resolution: int) -> np.ndarray:
    """Cell centres of a ``resolution³`` grid over [-1, 1]³: ``(R³, 3)`` float64, x-fastest last."""
    axis = sample_centres((0, resolution), resolution, resolution)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def _field_on_grid(vertices: np.ndarray, faces: np.ndarray, resolution: int, field: str) -> np.ndarray:
    values = field_at(vertices, faces, grid_points(resolution), field)
    return values.reshape(resolution, resolution, resolution, 1).astype(np.float32)


def field_at(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, field: str) -> np.ndarray:
    """Occupancy (1 inside, by generalised winding number > 1/2) or signed distance at ``points``."""
    import igl

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    q = np.ascontiguousarray(points, dtype=np.float64)
    winding = igl.fast_winding_number(v, f, q)
    inside = np.abs(winding) > 0.5
    if field == "occupancy":
        return inside.astype(np.float32)
    distance = np.sqrt(igl.point_mesh_squared_distance(q, v, f)[0])
    return np.where(inside, -distance, distance).astype(np.float32)


def _inside_box(points: np.ndarray, box) -> np.ndarray:
    """The points within a cropped file's window (all of them when there is none)."""
    if not box:
        return points
    low, high = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    return points[np.all((points >= low) & (points <= high), axis=1)]


def _inside(signal: Signal) -> np.ndarray:
    values = signal.values[..., 0]
    return values > 0.5 if signal.info["field"] == "occupancy" else values < 0


def to_mesh(signal: Signal, clean: bool = True):
    """Marching cubes on the decoded grid, in the original coordinates: a ``trimesh.Trimesh``.

    With ``clean``, pieces smaller than ``SPECK_SHARE`` of the largest are dropped.
    """
    import trimesh
    from skimage.measure import marching_cubes

    values = signal.values[..., 0]
    level = 0.5 if signal.info["field"] == "occupancy" else 0.0
    if not (values.min() < level < values.max()):
        raise UsageError("the decoded field has no surface (everything is inside or outside)")
    window = signal.info.get("window_coords")  # per axis (lo, hi) network coordinates of the grid's extent
    shape = values.shape
    lows = np.array([w[0] for w in window]) if window else -np.ones(3)
    highs = np.array([w[1] for w in window]) if window else np.ones(3)
    spacing = (highs - lows) / np.array(shape)
    # skimage places sample i at i * spacing; sample centres sit half a cell in from the extent
    verts, faces, _, _ = marching_cubes(values, level=level, spacing=tuple(spacing))
    verts = verts + lows + spacing / 2
    if signal.info["field"] == "occupancy":
        faces = faces[:, ::-1]  # occupancy rises inwards: flip so normals point out
    center, scale = np.array(signal.info["center"]), float(signal.info["scale"])
    mesh = trimesh.Trimesh(verts * scale + center, faces, process=False)
    return drop_specks(mesh) if clean else mesh


def drop_specks(mesh, share: float = SPECK_SHARE):
    """Remove connected pieces smaller than ``share`` of the largest: isolated blobs that the
    network puts in empty space between training points, which no user wants in a mesh."""
    import trimesh

    if len(mesh.faces) == 0:
        return mesh
    labels = trimesh.graph.connected_component_labels(mesh.face_adjacency, node_count=len(mesh.faces))
    sizes = np.bincount(labels)
    keep = sizes[labels] >= share * sizes.max()
    if keep.all():
        return mesh
    mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    return mesh


def surface_points(signal: Signal, count: int = EVAL_SURFACE_POINTS) -> np.ndarray:
    """Points on the surface, in normalised coordinates: the mesh itself for a read signal,
    marching cubes for a decoded one."""
    if "vertices" in signal.attachments:
        import trimesh

        mesh = trimesh.Trimesh(signal.attachments["vertices"], signal.attachments["faces"], process=False)
    else:
        try:
            mesh = to_mesh(signal)
        except UsageError:
            return np.zeros((0, 3))
        center, scale = np.array(signal.info["center"]), float(signal.info["scale"])
        mesh.vertices = (mesh.vertices - center) / scale
    points, _ = _sample_surface(mesh, count)
    return points


def _face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of every triangle: ``(F,)``."""
    triangles = vertices[faces]
    return 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)


def _sample_surface(mesh, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted random points on a mesh (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    triangles = mesh.vertices[mesh.faces]
    areas = _face_areas(mesh.vertices, mesh.faces)
    if areas.sum() <= 0:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    face = rng.choice(len(areas), size=count, p=areas / areas.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = triangles[face]
    return t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0]), face


class PointSampler(Sampler):
    """Training batches of points with their occupancy or clamped signed distance.

    A pool of ``POOL_POINTS`` points is labelled once: half uniform in the cube, half on the
    surface jittered by Gaussian noise (σ = 0.01 and 0.003 of the cube's half-width), as
    Occupancy Networks do.  Each step draws the same number of points from every partition's
    share of the pool (with replacement), so every local network trains every step.
    """

    batch_points = 1 << 15

    def __init__(self, signal: Signal, partitioning: Partitioning | None, seed: int):
        vertices, faces = signal.attachments["vertices"], signal.attachments["faces"]
        import trimesh

        rng = np.random.default_rng(seed)
        half = POOL_POINTS // 2
        uniform = rng.uniform(-1, 1, (half, 3))
        surface, _ = _sample_surface(trimesh.Trimesh(vertices, faces, process=False), half, seed)
        sigma = np.where(rng.random(half) < 0.5, 0.01, 0.003)[:, None]
        near = np.clip(surface + rng.normal(0, 1, (half, 3)) * sigma, -1, 1)
        points = np.concatenate([uniform, near])
        labels = field_at(vertices, faces, points, signal.info["field"])
        if signal.info["field"] == "sdf":
            labels = np.clip(labels, -SDF_CLAMP, SDF_CLAMP)
        self.points = torch.from_numpy(points).float()
        self.labels = torch.from_numpy(labels).float()[:, None]
        self.partitioning = partitioning
        if partitioning is None:
            self.groups = [torch.arange(len(points))]
        else:
            self._fill_empty_partitions(vertices, faces, signal.info["field"], rng)
            slots = partitioning.route(self.points)
            self.groups = [torch.nonzero(slots == s).flatten() for s in range(partitioning.num_slots)]
        self.per_group = max(1, math.ceil(self.batch_points / len(self.groups)))

    def _fill_empty_partitions(self, vertices, faces, field: str, rng: np.random.Generator) -> None:
        """Add uniform points inside any partition the pool missed, so every network has data."""
        slots = self.partitioning.route(self.points)
        counts = torch.bincount(slots, minlength=self.partitioning.num_slots)
        lows, highs = self.partitioning.slot_bounds()
        full = torch.tensor(self.partitioning.full_shape)
        extra = []
        for slot in torch.nonzero(counts == 0).flatten().tolist():
            low = (2 * lows[slot] / full - 1).numpy()
            high = (2 * highs[slot] / full - 1).numpy()
            extra.append(rng.uniform(low, high, (256, 3)))
        if extra:
            points = np.concatenate(extra)
            labels = field_at(vertices, faces, points, field)
            if field == "sdf":
                labels = np.clip(labels, -SDF_CLAMP, SDF_CLAMP)
            self.points = torch.cat([self.points, torch.from_numpy(points).float()])
            self.labels = torch.cat([self.labels, torch.from_numpy(labels).float()[:, None]])

    def sample(self, generator: torch.Generator, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.stack([g[torch.randint(len(g), (self.per_group,), generator=generator)] for g in self.groups])
        return self.points[picks], self.labels[picks]
