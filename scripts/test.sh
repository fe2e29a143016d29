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

# The unit and bad-input tests again under AddressSanitizer + UndefinedBehaviorSanitizer (preset
# "asan"; the bad-input tests run the ASan-built executable). Any report fails the run.
cmake --preset asan
cmake --build --preset asan -j"$jobs" --target cardioseg test_core test_imaging test_mesh test_nn test_bad_input
export ASAN_OPTIONS=abort_on_error=1:detect_stack_use_after_return=0:detect_leaks=1
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
ctest --preset asan -j"$jobs" -E '_NOT_BUILT$'
