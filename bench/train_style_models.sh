#!/usr/bin/env bash
# Train the three bundled style models from their presets and export each into
# src/ganforge/pretrained/<name>: the three side by side, one CPU thread each (train_photo_models.sh
# runs and exports each); each run's wall time is appended to runs/style-models/times.tsv (docs/style.md).
#   bench/train_style_models.sh                 all three at once
#   bench/train_style_models.sh NAME...         these presets, one after another
set -euo pipefail
cd "$(dirname "$0")/.."
export OUT=runs/style-models
if [ $# -eq 0 ]; then
  for name in style-painting style-cartoon style-woodblock; do bench/train_photo_models.sh "$name" & done
  wait
  exit 0
fi
exec bench/train_photo_models.sh "$@"
