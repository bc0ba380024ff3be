"""Spectral node embeddings of meshes and graphs, and their alignment between discretisations.

Two Laplacians, each paired with a mass (a weight per node, summing to 1):

* ``cotangent`` — for meshes with faces: the cotangent stiffness matrix (weights
  ½(cot α + cot β) per edge) with the barycentric mass (a third of the adjacent triangles' area,
  as a share of the whole surface).  It approximates the surface's Laplace–Beltrami operator, so
  its eigenvectors on two meshes of the same surface agree whatever the vertex density.
* ``combinatorial`` — ``L = D − A`` of the binary, symmetric adjacency with every node weighing
  ``1/n``: the only choice for a graph without geometry, and what format-2 files used.

The embedding is the first ``k`` solutions of ``L v = λ M v`` (smallest λ), normalised so that
``vᵀ M v = 1``: every column has unit mean square over the surface (combinatorial: over the
nodes, i.e. the unit eigenvectors × √n).  With a diagonal ``M`` this is the ordinary symmetric
problem of ``M^{-½} L M^{-½}``, which is how it is solved (and how docs/FORMAT.md states it).
"""

from __future__ import annotations

import numpy as np

LAPLACIANS = ("cotangent", "combinatorial")
MIN_MASS_SHARE = 1e-6  # floor of a node's mass relative to the mean: a sliver's vertex keeps M invertible


def edge_list(faces, edges) -> np.ndarray:
    """Every face's three edges and the listed edges: ``(m, 2)`` int64 (duplicates kept)."""
    parts = []
    if faces is not None:
        f = np.asarray(faces, dtype=np.int64)
        parts += [f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]
    if edges is not None:
        parts.append(np.asarray(edges, dtype=np.int64))
    return np.concatenate(parts)


def default_laplacian(points, faces, edges) -> str:
    """``cotangent`` where the geometry defines one (faces that cover every vertex with a surface of
    non-zero area, and no edges beside them), else ``combinatorial``."""
    if faces is None or edges is not None or len(faces) == 0:
        return "combinatorial"
    covered = np.zeros(len(points), bool)
    covered[np.asarray(faces).ravel()] = True
    if not covered.all():  # a vertex in no face has no area: the mass matrix would be singular there
        return "combinatorial"
    return "cotangent" if _face_areas(np.asarray(points, np.float64), np.asarray(faces, np.int64)).sum() > 0 \
        else "combinatorial"


def _face_areas(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(m,)`` triangle areas."""
    a, b, c = (points[faces[:, i]] for i in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def combinatorial_laplacian(nodes: int, edges: np.ndarray):
    """``L = D − A`` (A binary and symmetric, self-loops dropped) and the uniform mass ``1/n``."""
    import scipy.sparse as sp

    edges = edges[edges[:, 0] != edges[:, 1]]
    adjacency = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(nodes, nodes)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    laplacian = sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    return laplacian.tocsr(), np.full(nodes, 1.0 / nodes)


def cotangent_laplacian(points: np.ndarray, faces: np.ndarray):
    """The cotangent stiffness matrix (positive semi-definite: ``L_ij = −½(cot α_ij + cot β_ij)``,
    rows summing to 0) and the barycentric masses as shares of the total area: ``(n, n)``, ``(n,)``.

    A degenerate triangle's cotangents use its area floored at 10⁻¹² of the squared edge lengths,
    so a sliver adds large but finite weights instead of infinities."""
    import scipy.sparse as sp

    points, faces = np.asarray(points, np.float64), np.asarray(faces, np.int64)
    n = len(points)
    rows, cols, weights = [], [], []
    for corner in range(3):  # the angle at `corner` is opposite the edge (i, j)
        o, i, j = faces[:, corner], faces[:, (corner + 1) % 3], faces[:, (corner + 2) % 3]
        u, v = points[i] - points[o], points[j] - points[o]
        cross = np.linalg.norm(np.cross(u, v), axis=1)
        floor = 1e-12 * (np.einsum("ij,ij->i", u, u) + np.einsum("ij,ij->i", v, v)) + 1e-300
        cot = np.einsum("ij,ij->i", u, v) / np.maximum(cross, floor)
        rows += [i, j]
        cols += [j, i]
        weights += [0.5 * cot, 0.5 * cot]
    off = sp.coo_matrix((-np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    laplacian = off - sp.diags(np.asarray(off.sum(axis=1)).ravel())
    mass = np.zeros(n)
    np.add.at(mass, faces.ravel(), np.repeat(_face_areas(points, faces) / 3.0, 3))
    mass /= mass.sum()
    mass = np.maximum(mass, MIN_MASS_SHARE / n)
    return laplacian.tocsr(), mass / mass.sum()


def spectral_embedding(points, faces, edges, k: int, laplacian: str) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` eigenvectors of ``L v = λ M v``, M-normalised: ``(n, k)`` float32, and the
    ``(k,)`` eigenvalues, ascending (combinatorial: those of ``D − A`` itself, as format 2 stored)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigsh

    n = len(points)
    if laplacian == "cotangent":
        stiffness, mass = cotangent_laplacian(points, faces)
        scale = sp.diags(1.0 / np.sqrt(mass))
        operator = (scale @ stiffness @ scale).tocsc()
        operator = (operator + operator.T) * 0.5  # exact symmetry for the solver
        # the shift is relative to the operator's scale (about 6 neighbours per vertex), so it
        # means on every mesh what −10⁻³ means for D − A
        sigma = -1e-3 * float(operator.diagonal().mean()) / 6.0
    else:
        operator, mass = combinatorial_laplacian(n, edge_list(faces, edges))
        operator, sigma = operator.tocsc(), -1e-3
    v0 = np.random.default_rng(0).standard_normal(n)  # a fixed start: same graph, same vectors
    # shift-invert just below 0 (the operator is singular at 0): the smallest eigenvalues converge fast
    values, vectors = eigsh(operator, k=k, sigma=sigma, which="LM", v0=v0)
    order = np.argsort(values)
    # unit w = M^{½} v (cotangent) or unit v with M = 1/n: dividing by √M gives vᵀ M v = 1
    return (vectors[:, order] / np.sqrt(mass)[:, None]).astype(np.float32), values[order]


def anchor_indices(nodes: int, count: int) -> np.ndarray:
    """``count`` evenly spread node indices (all nodes if fewer)."""
    return np.unique(np.linspace(0, nodes - 1, min(count, nodes)).round().astype(np.int64))


def align(embedding: np.ndarray, points: np.ndarray, anchor_points: np.ndarray,
          anchor_embedding: np.ndarray) -> np.ndarray:
    """``embedding`` (``(n, k)``) rotated by the orthogonal ``k × k`` matrix that best maps its
    rows at the vertices nearest the anchors onto the stored anchor rows (Procrustes)."""
    from scipy.spatial import cKDTree

    nearest = cKDTree(points).query(anchor_points)[1]
    u, _, vt = np.linalg.svd(embedding[nearest].astype(np.float64).T @ anchor_embedding.astype(np.float64))
    return (embedding @ (u @ vt)).astype(np.float32)
