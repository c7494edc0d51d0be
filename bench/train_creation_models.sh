#!/usr/bin/env bash
# Train the bundled creation models from their presets and export each into
# src/ganforge/pretrained/<name> (what `make creation-models` runs), one after another with both
# CPU threads. The model card gets a "Training" section: the machine (CPU model, cores, vector
# extensions), the threads, and the run's wall and CPU time, which is also appended to
# runs/creation-models/times.tsv (docs/creation.md). The data set is rendered or decoded on the
# first run and cached (~/.cache/ganforge/data), so the first run of a preset also pays for its data.
#   bench/train_creation_models.sh                 every creation preset below
#   bench/train_creation_models.sh NAME...         these presets (configs/NAME.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
GANFORGE=${GANFORGE:-.venv/bin/ganforge}
OUT=${OUT:-runs/creation-models}
THREADS=${THREADS:-2}
mkdir -p "$OUT"
[ $# -eq 0 ] && set -- character-avatar
cpu=$(lscpu | sed -n 's/^Model name: *//p')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
ext=""
for pair in avx2:AVX2 avx512f:AVX-512 amx_tile:AMX; do
  case " $flags " in *" ${pair%%:*} "*) ext="$ext, ${pair#*:}";; *) ext="$ext, no ${pair#*:}";; esac
done
ext=${ext#, }
for name in "$@"; do
  run="$OUT/$name"
  rm -rf "$run"
  start=$(date +%s)
  # GNU time's %U + %S: the CPU time of the run and its data workers
  OMP_NUM_THREADS=$THREADS /usr/bin/time -f '%U %S' -o "$OUT/$name.cpu" \
    "$GANFORGE" train "configs/$name.yaml" train.threads="$THREADS" --run-dir "$run" -q
  end=$(date +%s)
  wall=$((end - start))
  cpu_s=$(awk '{printf "%d", $1 + $2}' "$OUT/$name.cpu")
  printf '%s\t%d\t%d\t%s\n' "$name" "$wall" "$cpu_s" "$(date -u +%FT%TZ)" >> "$OUT/times.tsv"
  rm -rf "src/ganforge/pretrained/$name"
  "$GANFORGE" export "$run" "src/ganforge/pretrained/$name"
  cat >> "src/ganforge/pretrained/$name/README.md" <<CARD

## Training

- machine: $cpu, $(nproc) cores ($ext), $THREADS torch threads
- time: $((wall / 60)) min wall, $((cpu_s / 60)) min CPU (data rendering included when it was not cached)
- reproduce: \`make creation-models\` (bench/train_creation_models.sh)
CARD
  echo "$name: $wall s wall, $cpu_s s CPU"
done
