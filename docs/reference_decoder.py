"""A second decoder of inr files, written from docs/FORMAT.md alone: numpy and safetensors only
(no torch, no inrcli), coded weights (version 4) included.  The test suite runs it against ``inr decode`` for every kind and
architecture, so the document and the code are kept in agreement.

    python docs/reference_decoder.py FILE.safetensors OUT.npy

writes the decode at the stored resolution as the values a writer would store: integer pixels at
the file's bit depth for images and video, float samples for audio, the field grid for shapes
(occupancy probability or signed distance), values in the volume's sample type, and per-vertex
values on the stored mesh for graphs.  A set (``set-siren``) decodes to every member, stacked
along a new first axis in code order.
"""

from __future__ import annotations

import bisect
import itertools
import json
import sys

import numpy as np
from safetensors import safe_open


def read(path: str) -> tuple[dict, dict]:
    """Metadata (JSON values parsed) and tensors (weights as float32, graph arrays as stored)."""
    with safe_open(path, framework="numpy") as handle:
        stored = dict(handle.metadata())
        tensors = {name: handle.get_tensor(name) for name in handle.keys() if not name.startswith("aux.")}
    if "inr.version" in stored:  # versions 2.x–6.x: namespaced keys (3 changed graphs, 4 added sets, 5 floats in
        # coded files, 6 sets with spatial codes)
        assert stored["inr.version"].split(".")[0] in ("2", "3", "4", "5", "6"), "a newer major version"
        meta = {key[4:]: value for key, value in stored.items() if key.startswith("inr.")}
    else:  # version 1: bare keys, the kind under "modality"
        assert stored.get("format") == "inr" and stored.get("version") == "1", "not an inr file"
        meta = dict(stored, kind=stored["modality"])
    for key in ("model", "signal", "training"):
        meta[key] = json.loads(meta[key])
    if "coding" in meta:  # versions 4 and 5: quantised, entropy-coded weights (5: some kept as float32)
        weights = decode_coded(json.loads(meta["coding"]), meta, tensors)
    else:
        weights = {k: v.astype(np.float32) for k, v in tensors.items() if not k.startswith("graph.")}
    return meta, weights | {k: v for k, v in tensors.items() if k.startswith("graph.")}


# ---- coded weights (FORMAT.md, "Coded weights") ------------------------------------------------
PRECISION, HIGH_BITS = 24, 4


def is_local(name: str) -> bool:
    return name.startswith(("local_", "out_"))


def weight_shapes(arch: str, model: dict) -> dict[str, tuple[int, ...]]:
    """Every weight tensor's shape, by name, from the model config (FORMAT.md, "Tensors")."""
    d, c, layers = model["in_dim"], model["out_dim"], model["hidden_layers"]
    if arch == "siren":
        w = model["width"]
        shapes = {f"body.{k}.linear.{p}": ((w, w if k else d) if p == "weight" else (w,))
                  for k in range(layers + 1) for p in ("weight", "bias")}
        return shapes | {"head.weight": (c, w), "head.bias": (c,)}
    assert arch == "lg-siren", f"coded weights of architecture {arch!r}"
    w, g = model["local_width"], model["global_width"]
    slots = int(np.prod([hi - lo for lo, hi in model["partitioning"]["kept"]]))
    shapes = {"out_weight": (slots, w, c), "out_bias": (slots, c),
              "merge.linear.weight": (w, w + g), "merge.linear.bias": (w,)}
    for k in range(layers + 1):
        shapes |= {f"local_weight.{k}": (slots, w if k else d, w), f"local_bias.{k}": (slots, w),
                   f"global_layers.{k}.linear.weight": (g, g if k else d), f"global_layers.{k}.linear.bias": (g,)}
    return shapes


def cdf_of(counts: np.ndarray) -> list[int]:
    """A histogram's fixed-point cdf: ``n + 1`` integers out of 2^24."""
    n, total = len(counts), float(np.sum(counts, dtype=np.float64))
    assert n >= 2 and total > 0, "an empty histogram"
    scale = (2 ** PRECISION - n) / total
    cumulative = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)[:-1]])
    return [int(np.floor(x * scale)) + i for i, x in enumerate(cumulative)] + [2 ** PRECISION]


class AnsReader:
    """One chunk's rANS stream: 32-bit little-endian words, read from the end."""

    def __init__(self, data: np.ndarray):
        assert len(data) % 4 == 0, "a chunk of whole 32-bit words"
        self.words = [int(x) for x in np.frombuffer(data.tobytes(), dtype="<u4")]
        self.state = self.words.pop() if self.words else 0
        assert self.state != 0 or not len(data), "a chunk ending in a zero word"
        while self.words and self.state < 2 ** 32:
            self.state = (self.state << 32) | self.words.pop()

    def decode(self, cdf: list[int], count: int) -> list[int]:
        symbols = []
        for _ in range(count):
            quantile = self.state % 2 ** PRECISION
            symbol = bisect.bisect_right(cdf, quantile) - 1  # cdf[i] ≤ quantile < cdf[i+1]
            self.state = (self.state >> PRECISION) * (cdf[symbol + 1] - cdf[symbol]) + quantile - cdf[symbol]
            if self.state < 2 ** 32 and self.words:
                self.state = (self.state << 32) | self.words.pop()
            symbols.append(symbol)
        return symbols

    def finish(self) -> None:
        assert not self.words and self.state == 0, "a chunk with bytes left over"


def decode_coded(coding: dict, meta: dict, tensors: dict) -> dict[str, np.ndarray]:
    """Float32 weights from the ``coded.*`` tensors: each tensor's integers, chunk by chunk; the
    tensors the coding lists as ``float`` (version 5) are stored as they are."""
    floats = {name: tensors[name].astype(np.float32) for name in coding.get("float", [])}
    shapes = {name: shape for name, shape in weight_shapes(meta["arch"], meta["model"]).items() if name not in floats}
    prior, at, grids = tensors["coded.prior"].astype(np.int64), 0, {}
    for name, bits, offset, step in coding["tensors"]:  # coding order
        levels = 2 ** min(bits, HIGH_BITS)
        low = cdf_of(np.ones(2 ** (bits - HIGH_BITS))) if bits > HIGH_BITS else None
        grids[name] = (bits, np.float32(offset), np.float32(step), cdf_of(prior[at:at + levels]), low)
        at += levels
    assert at == len(prior) and set(grids) == set(shapes), "the histograms and tensors of the model"
    q = {name: np.zeros(shape, dtype=np.int64) for name, shape in shapes.items()}

    def chunk(data: np.ndarray, names: list[str], slot: int | None) -> None:
        reader = AnsReader(data)
        for name in names:
            bits, _, _, high_cdf, low_cdf = grids[name]
            target = q[name][slot] if slot is not None else q[name]
            values = np.array(reader.decode(high_cdf, target.size), dtype=np.int64)
            if low_cdf is not None:
                values = (values << (bits - HIGH_BITS)) | np.array(reader.decode(low_cdf, target.size), dtype=np.int64)
            target[...] = values.reshape(target.shape)
        reader.finish()

    order = [row[0] for row in coding["tensors"]]
    chunk(tensors["coded.shared"], [n for n in order if not is_local(n)], None)
    local = [n for n in order if is_local(n)]
    if local:
        starts = np.concatenate([[0], np.cumsum(tensors["coded.local_bytes"].astype(np.int64))])
        assert starts[-1] == len(tensors["coded.local"]), "chunk lengths that add up to the data"
        for slot in range(len(starts) - 1):
            chunk(tensors["coded.local"][starts[slot]:starts[slot + 1]], local, slot)
    # w = float32(offset + q · step), computed in float64 and rounded once
    return floats | {name: (np.float64(grids[name][1]) + q[name].astype(np.float64) * np.float64(grids[name][2])).astype(np.float32)
                     for name in shapes}


def sine(x: np.ndarray, w: np.ndarray, b: np.ndarray, w0: float) -> np.ndarray:
    """``sin(ω0 (x Wᵀ + b))`` for a weight stored (out, in)."""
    return np.sin(np.float32(w0) * (x @ w.T + b))


def siren(t: dict, config: dict, x: np.ndarray) -> np.ndarray:
    """SIREN: ``(n, in) → (n, out)``; body layers stored (out, in), first one at ``first_w0``."""
    for k in range(config["hidden_layers"] + 1):
        x = sine(x, t[f"body.{k}.linear.weight"], t[f"body.{k}.linear.bias"],
                 config["first_w0"] if k == 0 else config["w0"])
    return x @ t["head.weight"].T + t["head.bias"]


def set_siren(t: dict, config: dict, x: np.ndarray, code: np.ndarray) -> np.ndarray:
    """A set's network for the member with ``code (z,)``: ``(n, in) → (n, out)``.  The code's
    shifts, ``modulation.weight`` (J·w, c) times the code (``spatial``: times the code's grid
    interpolated at each point, :func:`code_at`), join the first J sine layers."""
    width = config["width"]
    if config["conditioning"] == "spatial":
        shift = code_at(code, config["code_grid"], x) @ t["modulation.weight"].T  # (n, J·w)
    else:
        shift = (t["modulation.weight"] @ code)[None]  # (1, J·w)
    layers = [("first", config["first_w0"])] + [(f"hidden.{k}", config["w0"]) for k in range(config["hidden_layers"])]
    for k, (name, w0) in enumerate(layers):
        b = t[f"{name}.bias"] + (shift[:, k * width:(k + 1) * width] if (k + 1) * width <= shift.shape[1] else 0)
        x = sine(x, t[f"{name}.weight"], b, w0)
    return x @ t["head.weight"].T + t["head.bias"]


def code_at(code: np.ndarray, cells: list[int], x: np.ndarray) -> np.ndarray:
    """A spatial code ``(z,)``, laid out ``(*cells, c)`` rows first, at points ``x (n, d)``: ``(n, c)``.

    Cell ``i`` of ``G`` is centred at ``(2i + 1)/G − 1``; values between centres are multilinear,
    beyond the outermost centres the border cell's."""
    grid = code.reshape(*cells, -1)
    lower, upper, frac = [], [], []
    for a, g in enumerate(cells):
        u = np.clip(((x[:, a].astype(np.float64) + 1) * g - 1) / 2, 0, g - 1)
        i0 = np.minimum(np.floor(u).astype(np.int64), max(g - 2, 0))
        lower.append(i0), upper.append(np.minimum(i0 + 1, g - 1)), frac.append(u - i0)
    out = np.zeros((len(x), grid.shape[-1]), np.float64)
    for corner in itertools.product((0, 1), repeat=len(cells)):
        weight = np.prod([f if c else 1 - f for c, f in zip(corner, frac)], axis=0)
        index = tuple(u if c else lo for c, lo, u in zip(corner, lower, upper))
        out += weight[:, None] * grid[index]
    return out.astype(np.float32)


def local_global(t: dict, config: dict, x: np.ndarray, slot: int) -> np.ndarray:
    """Local-Global SIREN at ``x (n, d)`` through the partition in ``slot``: ``(n, out)``.

    Local weights are stored (S, in, out) and used as ``h @ W[slot]``; global and merge weights
    (out, in).  At every depth the merge layer joins [local, global] and feeds the next local layer."""
    hidden = glob = x
    for k in range(config["hidden_layers"] + 1):
        w0 = config["first_w0"] if k == 0 else config["w0"]
        local = np.sin(np.float32(w0) * (hidden @ t[f"local_weight.{k}"][slot] + t[f"local_bias.{k}"][slot]))
        glob = sine(glob, t[f"global_layers.{k}.linear.weight"], t[f"global_layers.{k}.linear.bias"], w0)
        hidden = sine(np.concatenate([local, glob], axis=1), t["merge.linear.weight"], t["merge.linear.bias"],
                      config["w0"])
    return hidden @ t["out_weight"][slot] + t["out_bias"][slot]


def centres(lo: int, hi: int, n_out: int, origin: int, span: int) -> np.ndarray:
    """Network coordinates of ``n_out`` sample centres over ``[lo, hi)`` in the frame (float64)."""
    positions = lo + (np.arange(n_out, dtype=np.float64) + 0.5) * (hi - lo) / n_out
    return 2.0 * (positions - origin) / span - 1.0


def blend(axis: np.ndarray, edges: list[int], kept: list[int], origin: int, span: int) -> list[tuple[int, np.ndarray]]:
    """Per kept partition along one axis: ``(index, weight per coordinate)`` (zero outside its support)."""
    lo, hi = kept
    inner = (np.array(edges[1:-1], dtype=np.float64) - origin) * (2.0 / span) - 1.0
    own = np.clip(np.searchsorted(inner, axis, side="right"), lo, hi - 1)
    position = (axis + 1.0) * (span / 2.0) + origin
    edges = np.array(edges, dtype=np.float64)
    first, last = edges[own] + 0.5, edges[own + 1] - 0.5
    before = (position < first) & (own > lo)
    after = (position > last) & (own < hi - 1)
    neighbour = np.where(before, own - 1, np.where(after, own + 1, own))
    t = np.clip(np.where(before, first - position, np.where(after, position - last, 0.0)), 0.0, 0.5)
    return [(p, np.where(own == p, 1.0 - t, 0.0) + np.where((neighbour == p) & (own != p), t, 0.0))
            for p in range(lo, hi)]


def decode_grid(meta: dict, t: dict, shape: tuple[int, ...]) -> np.ndarray:
    """The network's output on ``shape`` sample centres over the file's window: ``(*shape, C)``
    float32; ``(M, *shape, C)`` for a set of ``M`` members."""
    config, signal = meta["model"], meta["signal"]
    part = config.get("partitioning", {})
    origin = part.get("origin", [0] * len(shape))  # a file grown by inr extend keeps its first frame
    span = part.get("span", signal["full_shape"])
    axes = [centres(lo, hi, n, o, s) for (lo, hi), n, o, s in zip(signal["window"], shape, origin, span)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(axes)).astype(np.float32)
    if meta["arch"] == "siren":
        return siren(t, config, grid).reshape(*shape, -1)
    if meta["arch"] == "set-siren":
        return np.stack([set_siren(t, config, grid, code).reshape(*shape, -1) for code in t["codes"]])
    per_axis = [blend(a, e, k, o, s) for a, e, k, o, s in zip(axes, part["edges"], part["kept"], origin, span)]
    kept_grid = [hi - lo for lo, hi in part["kept"]]
    out = np.zeros((len(grid), config["out_dim"]), np.float32)
    for combo in itertools.product(*per_axis):
        weight = combo[0][1]
        for _, w in combo[1:]:
            weight = np.multiply.outer(weight, w)
        weight = weight.reshape(-1).astype(np.float32)
        rows = np.nonzero(weight > 0)[0]
        if len(rows):
            slot = int(np.ravel_multi_index([p - lo for (p, _), (lo, _) in zip(combo, part["kept"])], kept_grid))
            out[rows] += local_global(t, config, grid[rows], slot) * weight[rows, None]
    return out.reshape(*shape, -1)


def cotangent(points: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cotangent stiffness (L_ij = −½ Σ cot of the angles opposite edge ij, rows sum to 0) and
    barycentric masses as shares of the area, floored at 10⁻⁶/n and renormalised: ``(n, n)``, ``(n,)``."""
    n = len(points)
    stiffness, mass = np.zeros((n, n)), np.zeros(n)
    for c in range(3):
        o, i, j = faces[:, c], faces[:, (c + 1) % 3], faces[:, (c + 2) % 3]
        u, v = points[i] - points[o], points[j] - points[o]
        floor = 1e-12 * ((u * u).sum(1) + (v * v).sum(1)) + 1e-300
        half_cot = 0.5 * (u * v).sum(1) / np.maximum(np.linalg.norm(np.cross(u, v), axis=1), floor)
        np.add.at(stiffness, (i, j), -half_cot)
        np.add.at(stiffness, (j, i), -half_cot)
    stiffness -= np.diag(stiffness.sum(1))
    a, b, c = (points[faces[:, m]] for m in range(3))
    np.add.at(mass, faces.ravel(), np.repeat(np.linalg.norm(np.cross(b - a, c - a), axis=1) / 6.0, 3))
    mass = np.maximum(mass / mass.sum(), 1e-6 / n)
    return stiffness, mass / mass.sum()


def graph_embedding(meta: dict, t: dict) -> np.ndarray:
    """The stored mesh's Laplacian eigenvectors, M-normalised, rotated onto the stored anchor rows: ``(n, k)``."""
    info = meta["signal"]["info"]
    points, k = t["graph.points"].astype(np.float64), info["k"]
    n = len(points)
    if info.get("laplacian", "combinatorial") == "cotangent":
        stiffness, mass = cotangent(points, t["graph.faces"].astype(np.int64))
        _, vectors = np.linalg.eigh(stiffness / np.sqrt(np.outer(mass, mass)))
        embedding = (vectors[:, :k] / np.sqrt(mass)[:, None]).astype(np.float32)
    else:
        pairs = []
        if "graph.faces" in t:
            f = t["graph.faces"].astype(np.int64)
            pairs += [f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]
        if "graph.edges" in t:
            pairs.append(t["graph.edges"].astype(np.int64))
        pairs = np.concatenate(pairs)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        adjacency = np.zeros((n, n))
        adjacency[pairs[:, 0], pairs[:, 1]] = adjacency[pairs[:, 1], pairs[:, 0]] = 1.0
        _, vectors = np.linalg.eigh(np.diag(adjacency.sum(1)) - adjacency)
        embedding = (vectors[:, :k] * np.sqrt(n)).astype(np.float32)
    anchors = t["graph.anchor_points"].astype(np.float64)
    nearest = np.array([np.argmin(((points - a) ** 2).sum(1)) for a in anchors])
    u, _, vt = np.linalg.svd(embedding[nearest].astype(np.float64).T @ t["graph.anchor_embedding"].astype(np.float64))
    return (embedding @ (u @ vt)).astype(np.float32)


def graph_inputs(meta: dict, t: dict) -> np.ndarray:
    """The network's inputs on the stored mesh: the embedding, and over time one block per
    stored time with its coordinate (the times' range mapped to [−1, 1]) appended: ``(T·n, k [+1])``."""
    embedding = graph_embedding(meta, t)
    if "graph.times" not in t:
        return embedding
    times = t["graph.times"].astype(np.float64)
    low, high = times.min(), times.max()
    coords = 2 * (times - low) / (high - low) - 1 if high > low else np.zeros_like(times)
    return np.concatenate([np.c_[embedding, np.full(len(embedding), c, np.float32)] for c in coords.astype(np.float32)])


def decode(path: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The file at its stored resolution, as a writer would store it (see the module's docstring);
    ``shape`` (not for graphs) spreads that many samples per axis evenly over the window instead."""
    meta, t = read(path)
    signal, info = meta["signal"], meta["signal"]["info"]
    kind = meta["kind"]
    if kind == "graph":
        network = siren(t, meta["model"], graph_inputs(meta, t))
    else:
        if shape is None:
            shape = tuple(hi - lo for lo, hi in signal["window"])
        if kind == "shape":  # the stored grid spread over the window: at least 2 samples per axis
            shape = tuple(max(2, n) for n in shape)
        network = decode_grid(meta, t, tuple(shape))
    values = network * np.float32(signal["scale"]) + np.float32(signal["offset"])
    if kind in ("image", "video"):
        peak = 2.0 ** info.get("bit_depth", 8) - 1
        return np.rint(np.clip(values, 0.0, 1.0) * np.float32(peak)).astype(np.uint8 if peak == 255 else np.uint16)
    if kind == "shape":
        field = values[..., 0]
        return 1.0 / (1.0 + np.exp(-np.clip(field, -60, 60))) if info["field"] == "occupancy" else field
    if kind == "volume" and np.issubdtype(np.dtype(info["dtype"]), np.integer):
        limits = np.iinfo(info["dtype"])
        return np.clip(np.rint(values), limits.min, limits.max).astype(info["dtype"])
    if kind == "volume":
        return values.astype(info["dtype"])
    return values


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: reference_decoder.py FILE.safetensors OUT.npy")
    np.save(sys.argv[2], decode(sys.argv[1]))
