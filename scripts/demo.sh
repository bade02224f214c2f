#!/usr/bin/env bash
# The main job end to end on generated sample videos: install, make sample videos, curate them into
# WebDataset shards (VidLA recipe), train a tiny VidLA on the shards, evaluate retrieval, and write
# the clip gallery (its path is the last line).
#   bash scripts/demo.sh [OUTPUT_DIR]        (default: demo-out)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo-out}
NUM_VIDEOS=${NUM_VIDEOS:-6}
SECONDS_PER_VIDEO=${SECONDS_PER_VIDEO:-75}
STEPS=${STEPS:-40}

bash scripts/setup.sh demo  # what the demo runs, into .venv
PY=.venv/bin/python

echo "== 1/4 sample videos: $NUM_VIDEOS x ${SECONDS_PER_VIDEO}s, 1280x720, speech + subtitles -> $OUT/videos"
"$PY" -m curate make-media --output "$OUT/videos" --num-videos "$NUM_VIDEOS" --seconds "$SECONDS_PER_VIDEO"

echo "== 2/4 curate (vidla recipe): short/medium/long clips -> $OUT/dataset"
"$PY" -m curate run --recipe vidla --input "$OUT/videos" --output "$OUT/dataset"
"$PY" -m curate stats "$OUT/dataset"

echo "== 3/4 train a tiny VidLA for $STEPS steps on the shards -> $OUT/run"
"$PY" -m train fit --config tiny-cpu --shards "$OUT/dataset" --output "$OUT/run" --steps "$STEPS" --no-progress

echo "== 4/4 evaluate text-video retrieval on the same shards"
"$PY" -m train eval --checkpoint "$OUT/run" --shards "$OUT/dataset" --dsl

"$PY" -m curate gallery "$OUT/dataset" --sample 24 >/dev/null
echo "== gallery of 24 sampled clips, plots and failures: open $OUT/dataset/gallery/index.html" \
  "(or: .venv/bin/python -m curate gallery $OUT/dataset --serve)"
