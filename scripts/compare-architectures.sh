#!/usr/bin/env bash
# Compares network architectures at equal budget (issue "Two more architectures"): the same
# preprocessed cache, the same split (the training config's seed and subject_pattern), the same
# iterations and augmentation; only "architecture" differs. For each one it trains with
# `cardioseg train`, scores the held-out cases with scripts/evaluate-model.sh (cardioseg run +
# evaluate at the input resolution) and prints a Markdown table: mean Dice and HD95 over the
# held-out cases and labels, seconds per training iteration, parameters, and the mean
# `inference.unet` time per case.
#
#   scripts/compare-architectures.sh CACHE_DIR DATASET_DIR BASE_CONFIG OUT_DIR ITERATIONS [ARCH...]
#
#   CACHE_DIR    from `cardioseg plan-preprocess` (the README's training section)
#   DATASET_DIR  the MSD-layout dataset the cache was made from (imagesTr/, labelsTr/)
#   BASE_CONFIG  a training config, e.g. configs/training/acdc-cine-mri.json
#   ITERATIONS   training iterations per architecture (a few thousand rank them)
#   ARCH         default: unet attention_unet vnet resenc_unet
#
# Environment: CARDIOSEG (default build/release/cardioseg), CARDIOSEG_RUN_ARGS (extra `run`
# arguments for the evaluation, e.g. "--threads 2"). A GPU machine runs the same command with
# "device": "cuda" in BASE_CONFIG. Results: OUT_DIR/<arch>/ (model), OUT_DIR/<arch>-eval/
# (predictions and metrics), OUT_DIR/comparison.md.
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,22p' "$0" >&2
  exit 2
fi
cache=$1 dataset=$2 base=$3 out=$4 iterations=$5
shift 5
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(unet attention_unet vnet resenc_unet)
exe=${CARDIOSEG:-build/release/cardioseg}
here=$(dirname "$0")
mkdir -p "$out"
for arch in "${archs[@]}"; do
  config="$out/$arch.training.json"
  # Same config but the architecture; epochs x iterations_per_epoch = ITERATIONS, validation at
  # the end only (the held-out evaluation below is what the table reports).
  /usr/bin/env python3 - "$base" "$config" "$arch" "$iterations" <<'PY'
import json, sys
base, out, arch, iterations = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = json.load(open(base))
per_epoch = min(int(c.get("iterations_per_epoch", 250)), iterations)
c["architecture"] = arch
c["iterations_per_epoch"] = per_epoch
c["epochs"] = max(1, iterations // per_epoch)
c["validate_every"] = c["epochs"]
c.pop("blocks_per_level", None)  # each architecture's preset
json.dump(c, open(out, "w"), indent=2)
PY
  if [ ! -f "$out/$arch/model.json" ]; then
    "$exe" --log-level warn train "$cache" -o "$out/$arch" --config "$config"
  fi
  "$here/evaluate-model.sh" "$out/$arch" "$dataset" "$out/$arch-eval" "$exe" > "$out/$arch-eval.log"
done
/usr/bin/env python3 - "$out" "${archs[@]}" <<'PY' | tee "$out/comparison.md"
import csv, glob, json, os, statistics, sys
out, archs = sys.argv[1], sys.argv[2:]
print("| architecture | parameters | iterations | s / iteration | held-out Dice | HD95 mm | inference s / case |")
print("|---|---|---|---|---|---|---|")
for arch in archs:
    card = json.load(open(os.path.join(out, arch, "model.json")))
    p = card["provenance"]
    rows = list(csv.DictReader(open(os.path.join(out, arch + "-eval", "metrics.csv"))))
    dice = statistics.mean(float(r["dice"]) for r in rows)
    hd95 = [float(r["hd95_mm"]) for r in rows if r["hd95_mm"] not in ("", "nan", "inf")]
    times = []
    for report in glob.glob(os.path.join(out, arch + "-eval", "*", "report.json")):
        for stage in json.load(open(report))["stages"]:
            if stage["name"] == "inference.unet":
                times.append(stage["wall_s"])
    iterations = p["iterations_done"]
    print(f"| {arch} | {p.get('parameters', 0):,} | {iterations} | "
          f"{p['training_seconds_total'] / max(1, iterations):.2f} | {dice:.4f} | "
          f"{statistics.mean(hd95) if hd95 else float('nan'):.2f} | "
          f"{statistics.mean(times) if times else float('nan'):.2f} |")
PY
