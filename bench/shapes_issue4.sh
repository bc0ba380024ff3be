#!/usr/bin/env bash
# 3D shape figures of issue 4.  Usage: bash bench/shapes_issue4.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/meshes
OUT=${1:-bench/runs/issue4}
mkdir -p "$OUT"
INR=${INR:-.venv/bin/inr}
for mesh in spot.obj fandisk.obj bunny.ply; do
  stem=${mesh%.*}
  echo "== $mesh, 300 s"
  $INR encode "$DATA/$mesh" --seconds 300 -o "$OUT/$stem.safetensors" --force --quiet --json
  $INR eval "$DATA/$mesh" "$OUT/$stem.safetensors" --json
  $INR decode "$OUT/$stem.safetensors" --resolution 256 -o "$OUT/${stem}_256.ply" --force --quiet --json
done
