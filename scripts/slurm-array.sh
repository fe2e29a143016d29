#!/usr/bin/env bash
# A Slurm job array over a dataset with `cardioseg batch --shard`: task K of N runs every N-th
# case from the K-th (the same deterministic split on every node), loading the model once per
# task. Each task writes OUTDIR/<case>/ and its own OUTDIR/summary.shard-K-of-N.{csv,json};
# --resume makes a resubmitted array skip cases already complete (checked by SHA-256).
#
#   sbatch --array=1-8 scripts/slurm-array.sh INPUT_DIR OUTDIR [more cardioseg batch options]
#
# Set CARDIOSEG to the executable if it is not on PATH. Add #SBATCH lines (partition, account,
# --gres=gpu:1 for a CUDA build) to suit the site.
#SBATCH --job-name=cardioseg
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=cardioseg-%A_%a.out
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: sbatch --array=1-N $0 INPUT_DIR OUTDIR [cardioseg batch options]" >&2
  exit 2
fi
input=$1 outdir=$2
shift 2
: "${SLURM_ARRAY_TASK_ID:?run through sbatch --array=1-N}"
count=${SLURM_ARRAY_TASK_COUNT:-$((SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1))}
shard=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-1} + 1))

exec "${CARDIOSEG:-cardioseg}" batch "$input" -o "$outdir" --shard "$shard/$count" --resume \
  --threads "${SLURM_CPUS_PER_TASK:-0}" "$@"
