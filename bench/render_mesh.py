"""Render a mesh to a PNG with matplotlib (flat Lambert shading), to look at decoded shapes.

Usage: python bench/render_mesh.py MESH OUT.png [--elev 10 --azim -60]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402


def render(mesh: trimesh.Trimesh, out: str, elev: float, azim: float, title: str) -> None:
    light = np.array([0.3, -0.5, 0.8])
    light /= np.linalg.norm(light)
    shade = 0.25 + 0.75 * np.clip(mesh.face_normals @ light, 0, 1)
    colours = np.stack([shade * 0.85, shade * 0.8, shade * 0.7, np.ones_like(shade)], -1)
    figure = plt.figure(figsize=(6, 6), dpi=100)
    axes = figure.add_subplot(projection="3d")
    axes.add_collection3d(Poly3DCollection(mesh.vertices[mesh.faces], facecolors=colours, linewidths=0))
    low, high = mesh.bounds
    centre, half = (low + high) / 2, (high - low).max() / 2
    axes.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
             zlim=(centre[2] - half, centre[2] + half))
    axes.view_init(elev=elev, azim=azim)
    axes.set_axis_off()
    axes.set_title(title)
    figure.savefig(out, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mesh")
    parser.add_argument("out")
    parser.add_argument("--elev", type=float, default=10)
    parser.add_argument("--azim", type=float, default=-60)
    parser.add_argument("--up", choices=["y", "z"], default="y", help="the mesh's up axis")
    args = parser.parse_args()
    mesh = trimesh.load(args.mesh, force="mesh", process=False)  # merging would pinch touching sheets
    if args.up == "y":  # matplotlib's up is z
        mesh.vertices = mesh.vertices[:, [0, 2, 1]] * [1, -1, 1]
        mesh.faces = mesh.faces[:, ::-1]
    render(mesh, args.out, args.elev, args.azim,
           f"{args.mesh.split('/')[-1]}: {len(mesh.faces):,} faces, watertight={mesh.is_watertight}")


if __name__ == "__main__":
    main()
