#!/usr/bin/env bash
# Train the three bundled style models from their presets and export each into
# src/ganforge/pretrained/<name>. The three run side by side, one CPU thread each; each run's
# wall time is appended to runs/style-models/times.tsv (docs/style.md).
#   bench/train_style_models.sh                 all three at once
#   bench/train_style_models.sh NAME...         these presets, one after another
set -euo pipefail
cd "$(dirname "$0")/.."
GANFORGE=${GANFORGE:-.venv/bin/ganforge}
OUT=runs/style-models
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
  for name in style-painting style-cartoon style-woodblock; do "$0" "$name" & done
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
