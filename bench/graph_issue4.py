"""Graph-signal figures of issue 4 on ../shared/data/graphs/bunny_res2_grayscott.npz.

Usage: python bench/graph_issue4.py [--seconds S]
Prints R² on the training graph, R² on 10% held-back vertices, and R² at the original vertices
after decoding onto a midpoint-subdivided (4× the faces) version of the mesh.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import trimesh

from inrcli import api, fileformat
from inrcli.signals import read_signal

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "graphs" / "bunny_res2_grayscott.npz"


def r2(reference: np.ndarray, candidate: np.ndarray) -> float:
    return float(1 - np.sum((reference - candidate) ** 2) / np.sum((reference - reference.mean()) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    signal = read_signal(str(DATA))
    results = {}
    for holdout in (0.0, 0.1):
        started = time.perf_counter()
        inr = api.encode(signal, api.EncodeOptions(kind_options={"holdout": holdout}, steps=args.steps))
        results[f"holdout={holdout}"] = {"params": inr.model.param_count()["total"], "steps": inr.training["steps"],
                                         "seconds": round(time.perf_counter() - started, 1),
                                         "r2_all_nodes": inr.training["r2"],
                                         "r2_held_out": inr.training.get("holdout_r2"),
                                         "file_bytes": len(fileformat.to_bytes(inr))}
        print(json.dumps({f"holdout={holdout}": results[f"holdout={holdout}"]}), flush=True)
    mesh = trimesh.Trimesh(signal.attachments["points"], signal.attachments["faces"], process=False)
    fine = mesh.subdivide()  # midpoint subdivision: original vertices stay where they were
    stored = fileformat.from_bytes(fileformat.to_bytes(inr))
    fine_mesh = {"points": np.asarray(fine.vertices), "faces": np.asarray(fine.faces), "edges": None}
    decoded = api.decode(stored, api.plan_decode(stored, {"mesh": fine_mesh}))
    from scipy.spatial import cKDTree

    nearest = cKDTree(np.asarray(fine.vertices)).query(signal.attachments["points"])[1]
    results["transfer to the subdivided mesh"] = {
        "vertices": len(fine.vertices), "faces": len(fine.faces),
        "r2_at_original_vertices": round(r2(signal.values, decoded.values[nearest]), 4)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
