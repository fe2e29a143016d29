#!/usr/bin/env bash
# Installs the dependencies, builds the release preset and runs the whole test suite.
# Real-data tests read CARDIOSEG_TEST_DATA (the shared data folder, see data/README.md) and are
# skipped with a message when it is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${CARDIOSEG_TEST_DATA:-}" ]]; then
  CARDIOSEG_TEST_DATA="$(realpath "$CARDIOSEG_TEST_DATA")"
  export CARDIOSEG_TEST_DATA
fi
scripts/install-deps.sh --python  # python3-torch (TorchScript parity test), snakemake (workflow test)
jobs=$(nproc)
cmake --preset release
cmake --build --preset release -j"$jobs"
ctest --preset release -j"$jobs"
