#!/usr/bin/env bash
# Audio and video figures of issue 3.  Usage: bash bench/av_issue3.sh [OUTDIR]
# Prints what it measures; bench/RESULTS.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data
OUT=${1:-bench/runs/issue3}
mkdir -p "$OUT"
INR=${INR:-.venv/bin/inr}
PY=${PY:-.venv/bin/python}

echo "== gt_bach.wav, 120 s"
$INR encode $DATA/audio/gt_bach.wav --seconds 120 -o "$OUT/bach.safetensors" --force --quiet --json
$INR eval $DATA/audio/gt_bach.wav "$OUT/bach.safetensors" --json
for rate in 22050 96000; do
  $INR decode "$OUT/bach.safetensors" --rate $rate -o "$OUT/bach_$rate.wav" --force --quiet
  $PY -c "import soundfile as sf; i = sf.info('$OUT/bach_$rate.wav'); print('$rate Hz:', i.frames, 'samples,', round(i.frames / i.samplerate, 4), 's')"
done
$INR crop "$OUT/bach.safetensors" --region 10:20 -o "$OUT/bach_crop.safetensors" --force --json
$PY - "$OUT" <<'PY'
import sys
import numpy as np
from inrcli import api, fileformat
out = sys.argv[1]
full, crop = fileformat.load(f"{out}/bach.safetensors"), fileformat.load(f"{out}/bach_crop.safetensors")
(lo, hi), = crop.signal.window
same = np.array_equal(api.decode(full).values[lo:hi], api.decode(crop).values)
print(f"audio crop samples {lo}:{hi} identical to the full decode: {same}; "
      f"bytes {crop.size_bytes} / {full.size_bytes} = {crop.size_bytes / full.size_bytes:.3f}; "
      f"local partitions kept {crop.model.partitioning.num_slots}/{full.model.partitioning.num_slots}")
PY

echo "== realshort.mp4, 300 s"
$INR encode $DATA/video/realshort.mp4 --seconds 300 -o "$OUT/realshort.safetensors" --force --quiet --json
$INR eval $DATA/video/realshort.mp4 "$OUT/realshort.safetensors" --json
$INR crop "$OUT/realshort.safetensors" --region 1:3,2:6,3:7 -o "$OUT/realshort_crop.safetensors" --force --json
$PY - "$OUT" <<'PY'
import sys
import numpy as np
from inrcli import api, fileformat
out = sys.argv[1]
full, crop = fileformat.load(f"{out}/realshort.safetensors"), fileformat.load(f"{out}/realshort_crop.safetensors")
block = tuple(slice(lo, hi) for lo, hi in crop.signal.window)
same = np.array_equal(api.decode(full).values[block], api.decode(crop).values)
print(f"video crop window {crop.signal.window} identical to the full decode: {same}; "
      f"bytes {crop.size_bytes} / {full.size_bytes} = {crop.size_bytes / full.size_bytes:.3f}; "
      f"local partitions kept {crop.model.partitioning.num_slots}/{full.model.partitioning.num_slots}")
PY

echo "== bikes.mp4, 120 s, peak memory"
/usr/bin/time -v $INR encode $DATA/video/bikes.mp4 --seconds 120 -o "$OUT/bikes.safetensors" --force --quiet --json \
  2> "$OUT/bikes.time"
grep -E "Maximum resident|Elapsed" "$OUT/bikes.time"
$INR eval $DATA/video/bikes.mp4 "$OUT/bikes.safetensors" --json
