#!/usr/bin/env bash
# Installs cardioseg's build and test dependencies from Debian 12 (bookworm) packages.
# Idempotent: packages already installed are left alone. Works as root or through sudo.
#
#   scripts/install-deps.sh            # build + test dependencies
#   scripts/install-deps.sh --python   # also the test tools: Debian's python3-torch (TorchScript
#                                      # export), snakemake (the workflow test) and chromium
#                                      # (report.html rendered headless with SwiftShader WebGL)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libinsighttoolkit5-dev libfftw3-dev libgdcm-dev libgdcm-tools libdcmtk-dev
  libvtk9-dev
  libtorch-dev libopenblas0-pthread
  libopen3d-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev
  zlib1g-dev libpng-dev libssl-dev
)
if [[ "${1:-}" == "--python" ]]; then
  packages+=(python3-torch python3-numpy snakemake chromium)
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install-deps.sh: run as root or install sudo" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
