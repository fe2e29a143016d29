#!/usr/bin/env bash
# Sample-volume regression job for CI: segment the samples with the pinned model and config, then
# check the outputs against a committed baseline run. Exit code 0: no drift; 3: drift (the failed
# checks are on stderr and in the JUnit file); anything else: the job itself broke.
#
#   scripts/ci-example/run-regression.sh
#
# Environment (all optional):
#   CARDIOSEG        the executable              (default: cardioseg on PATH)
#   SAMPLES_DIR      folder of sample volumes    (default: ci/samples)
#   SAMPLES_URL      a .tar.gz of sample volumes to fetch into SAMPLES_DIR when it is empty, e.g.
#                    the public files named in data/README.md, re-hosted where your CI can reach
#   CONFIG           pinned run config            (default: ci/config.json)
#   MODEL            pinned model folder          (default: the config's)
#   BASELINE_DIR     committed baseline run       (default: ci/baseline)
#   TOLERANCES       tolerance file               (default: ci/tolerances.json if present)
#   OUT_DIR          where this run goes          (default: ci-out)
#   UPDATE_BASELINE  1 = replace the baseline with this run instead of comparing
set -euo pipefail
exe=${CARDIOSEG:-cardioseg}
samples=${SAMPLES_DIR:-ci/samples}
config=${CONFIG:-ci/config.json}
baseline=${BASELINE_DIR:-ci/baseline}
out=${OUT_DIR:-ci-out}
tolerances=${TOLERANCES:-ci/tolerances.json}

mkdir -p "$samples"
if [[ -z "$(ls -A "$samples")" ]]; then
  if [[ -z "${SAMPLES_URL:-}" ]]; then
    echo "run-regression.sh: $samples is empty and SAMPLES_URL is not set" >&2
    exit 2
  fi
  curl -fsSL "$SAMPLES_URL" | tar xz -C "$samples"
fi

args=(--config "$config" --jobs 1 --threads "$(nproc)")
[[ -n "${MODEL:-}" ]] && args+=(--model "$MODEL")
rm -rf "$out"
# Meshes and pages are compared through report.json; the viewer page is not needed here.
"$exe" --log-level warn batch "$samples" -o "$out/run" "${args[@]}" --set output.report_html=false

if [[ "${UPDATE_BASELINE:-0}" == 1 ]]; then
  rm -rf "$baseline"
  mkdir -p "$(dirname "$baseline")"
  cp -r "$out/run" "$baseline"
  echo "baseline replaced by this run: commit $baseline"
  exit 0
fi

compare=("$exe" compare "$baseline" "$out/run" --junit "$out/regression-junit.xml")
[[ -f "$tolerances" ]] && compare+=(--tolerances "$tolerances")
"${compare[@]}"
