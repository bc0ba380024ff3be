#!/usr/bin/env bash
# Quality of the default encoder under wall-clock budgets on the shared photos (issue 2).
# Usage: bash bench/images_issue2.sh [OUTDIR]   — prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/images
OUT=${1:-bench/runs/issue2}
mkdir -p "$OUT"
INR=${INR:-.venv/bin/inr}
for image in astronaut camera kodim01; do
  for seconds in 60 180; do
    model="$OUT/${image}_${seconds}s.safetensors"
    $INR encode "$DATA/$image.png" --partitions 16,16 --seconds "$seconds" -o "$model" --force --quiet --json >/dev/null
    scores=$($INR eval "$DATA/$image.png" "$model" --json)
    steps=$($INR info "$model" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["training"]["steps"], d["params"])')
    echo "{\"image\": \"$image\", \"seconds\": $seconds, \"steps_params\": \"$steps\", \"eval\": $scores}"
  done
done
