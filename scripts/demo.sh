#!/usr/bin/env bash
# Set up, then encode the bundled photo and decode it at twice the resolution into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/inr encode samples/chelsea.png -o out/chelsea.safetensors --force
.venv/bin/inr info out/chelsea.safetensors
.venv/bin/inr decode out/chelsea.safetensors --scale 2 -o out/chelsea_2x.png --force
.venv/bin/inr eval samples/chelsea.png out/chelsea.safetensors
