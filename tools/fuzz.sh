#!/usr/bin/env bash
# Builds the libFuzzer targets (preset "fuzz": clang 14, ASan + UBSan), makes seed corpora from
# real files and fuzzes each target for a given time. Issue "Hardening": each target is to run at
# least 30 minutes; a crash found becomes a regression test in tests/test_bad_input.cpp.
#
#   tools/fuzz.sh [--seconds N] [--targets "nifti dicom config model_card"] [--parallel]
#                 [--out DIR]
#
#   --seconds N   fuzzing time per target (default 1800)
#   --targets     which targets (default all four)
#   --parallel    run the targets at the same time (one process each) instead of one by one
#   --out DIR     corpora, crash inputs and logs (default ~/.cache/cardioseg/fuzz); the corpora
#                 grow across runs
#
# Seeds come from the shared data (CARDIOSEG_TEST_DATA, default ../shared/data): NIfTI headers of
# ACDC, LA and CT volumes (their quirks kept, the volume cut to at most 8x8x2 voxels of its own
# data, and once with the full size and data cut short), Sunnybrook cine and JPEG 2000 CT DICOM
# files (single files and a three-slice series), and the repository's configs and model cards.
# Nothing from the data is written into the repository.
#
# Prints, per target: executions, executions/s, corpus size, and the crash files found.
# Exit status 1 when any target found a crash or did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=1800
targets="nifti dicom config model_card"
parallel=0
out="${HOME}/.cache/cardioseg/fuzz"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --targets) targets="$2"; shift 2 ;;
    --parallel) parallel=1; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
data="${CARDIOSEG_TEST_DATA:-../shared/data}"

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)"
bin=build/fuzz

mkdir -p "$out"
seeds="$out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{nifti,dicom,config,model_card}

# NIfTI: real headers with the volume cut to at most 8x8x2 voxels of its own data.
python3 - "$data" "$seeds/nifti" <<'PY'
import gzip, glob, os, struct, sys
data, dest = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(data, "acdc/imagesTr/patient00[1-3]*.nii.gz")))
files += sorted(glob.glob(os.path.join(data, "acdc/labelsTr/patient001.nii.gz")))
files += sorted(glob.glob(os.path.join(data, "la2018/imagesTr/*.nii.gz")))[:2]
files += sorted(glob.glob(os.path.join(data, "ct_samples/*.nii.gz")))
for n, f in enumerate(files):
    raw = gzip.open(f).read()
    endian = "<" if struct.unpack("<i", raw[0:4])[0] == 348 else ">"
    dims = list(struct.unpack(endian + "8h", raw[40:56]))
    bitpix = struct.unpack(endian + "h", raw[72:74])[0]
    offset = int(struct.unpack(endian + "f", raw[108:112])[0])
    small = dims[:]
    small[1], small[2], small[3] = min(dims[1], 8), min(dims[2], 8), min(dims[3], 2)
    for i in range(4, 8):
        small[i] = 1 if i <= small[0] else small[i]
    count = small[1] * small[2] * small[3]
    head = bytearray(raw[:offset])
    head[40:56] = struct.pack(endian + "8h", *small)
    body = raw[offset:offset + count * max(bitpix, 8) // 8]
    open(os.path.join(dest, f"real{n}.nii"), "wb").write(bytes(head) + body)
    # The full header with its data cut short: the truncation check.
    open(os.path.join(dest, f"truncated{n}.nii"), "wb").write(raw[:offset + 4096])
PY

# DICOM: single real files, and a three-slice series joined by the target's separator.
sb=$(find "$data/sunnybrook" -name '*.dcm' | sort | head -60)
i=0
for f in $(echo "$sb" | awk 'NR % 20 == 1'); do cp "$f" "$seeds/dicom/sunnybrook$i.dcm"; i=$((i + 1)); done
ct=$(find "$data/ct_samples" -type f -name 'CT.*' | sort | head -3)
for f in $(echo "$ct" | head -1); do cp "$f" "$seeds/dicom/ct-jpeg2000.dcm"; done
{
  first=1
  for f in $(echo "$sb" | head -3); do
    [[ $first -eq 1 ]] || printf '\n--CARDIOSEG-FUZZ-SLICE--\n'
    first=0
    cat "$f"
  done
} > "$seeds/dicom/sunnybrook-series3"

cp configs/*.json configs/training/*.json "$seeds/config/"
for m in models/*/model.json; do cp "$m" "$seeds/model_card/$(basename "$(dirname "$m")").json"; done

run_target() {
  local t=$1
  mkdir -p "$out/corpus/$t" "$out/crashes/$t"
  # -malloc_limit_mb: one allocation over 1 GiB is a finding (the memory estimate should have
  # refused the input first); -rss_limit_mb bounds the process.
  "$bin/fuzz_$t" "$out/corpus/$t" "$seeds/$t" -max_total_time="$seconds" -timeout=60 \
      -rss_limit_mb=3072 -malloc_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$out/crashes/$t/" > "$out/$t.log" 2>&1 || true
}
if [[ $parallel -eq 1 ]]; then
  for t in $targets; do run_target "$t" & done
  wait
else
  for t in $targets; do run_target "$t"; done
fi

found=0
printf '%-12s %14s %10s %8s %s\n' target executions exec/s corpus crashes
for t in $targets; do
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo "?")
  rate=$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(find "$out/corpus/$t" -type f | wc -l)
  # slow-unit-* files are inputs over 10 s (written by libFuzzer), not findings
  crashes=$(find "$out/crashes/$t" -type f ! -name "slow-unit-*" | wc -l)
  printf '%-12s %14s %10s %8s %s\n' "$t" "$execs" "$rate" "$corpus" "$crashes"
  [[ $crashes -eq 0 && $execs != "?" ]] || found=1
done
exit $found
