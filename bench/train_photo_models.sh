#!/usr/bin/env bash
# Train the six bundled photo models from their presets and export each into
# src/ganforge/pretrained/<name> (what `make photo-models` runs). Two lanes run side by side,
# one CPU thread each (on 2 cores this beats one 2-thread run at a time, and a lane never
# waits on threads another process holds): x4 -> x4-gan -> x2, and denoise -> restore ->
# colorize. Each run's wall time is appended to runs/photo-models/times.tsv (docs/enhance.md).
#   bench/train_photo_models.sh                 both lanes
#   bench/train_photo_models.sh NAME...         these presets, one after another (any configs/NAME.yaml;
#                                               OUT=DIR puts runs and times.tsv in DIR: train_style_models.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
GANFORGE=${GANFORGE:-.venv/bin/ganforge}
OUT=${OUT:-runs/photo-models}
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
  "$0" photo-upscale-x4 photo-upscale-x4-gan photo-upscale-x2 &
  "$0" photo-denoise photo-restore photo-colorize &
  wait
  exit 0
fi
for name in "$@"; do
  run="$OUT/$name"
  rm -rf "$run"
  start=$(date +%s)
  OMP_NUM_THREADS=1 "$GANFORGE" train "configs/$name.yaml" train.threads=1 --run-dir "$run" -q
  end=$(date +%s)
  printf '%s\t%d\t%s\n' "$name" $((end - start)) "$(date -u +%FT%TZ)" >> "$OUT/times.tsv"
  rm -rf "src/ganforge/pretrained/$name"
  "$GANFORGE" export "$run" "src/ganforge/pretrained/$name"
  echo "$name: $((end - start)) s"
done
