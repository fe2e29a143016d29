#!/usr/bin/env bash
# Segments a model's held-out validation cases (split.json in the model folder) with
# `cardioseg run` and scores them with `cardioseg evaluate` (Dice, HD95, ASSD per label).
#
#   scripts/evaluate-model.sh MODEL_DIR DATASET_DIR OUT_DIR [CARDIOSEG]
#
# Extra `run` arguments come from CARDIOSEG_RUN_ARGS, e.g.
#   CARDIOSEG_RUN_ARGS="--set inference.unet.precision=fp32" scripts/evaluate-model.sh ...
#
# DATASET_DIR has the MSD layout (imagesTr/, labelsTr/). Results: OUT_DIR/<case>/ (run outputs)
# and OUT_DIR/metrics.csv, OUT_DIR/metrics.json (mean and sd per label).
set -euo pipefail
model=$1 dataset=$2 out=$3
exe=${4:-build/release/cardioseg}
mkdir -p "$out/truth"
cases=$(/usr/bin/env python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["validation"]))' "$model/split.json")
for c in $cases; do
  image=$(ls "$dataset/imagesTr/$c".nii* | head -n1)
  label=$(ls "$dataset/labelsTr/$c".nii* | head -n1)
  ln -sf "$(realpath "$label")" "$out/truth/$(basename "$label")"
  # shellcheck disable=SC2086  # CARDIOSEG_RUN_ARGS is a list of words
  "$exe" --log-level warn run "$image" -o "$out/$c" --model "$model" --set mesh.surface.enabled=false \
    --set output.preview=false ${CARDIOSEG_RUN_ARGS:-}
done
"$exe" evaluate "$out" "$out/truth" -o "$out"
