#!/usr/bin/env bash
# Installs what fedguard needs (Debian packages, numpy for the tests' interoperability checks)
# and builds it into build/. Safe to re-run: installs only what is missing, rebuilds
# incrementally. Environment: BUILD_DIR (default build), FEDGUARD_CUDA (AUTO|ON|OFF).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libopenblas-dev liblapacke-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libbenchmark-dev python3 python3-pip)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! python3 -c "import numpy" 2>/dev/null; then
  python3 -m pip install -q numpy 2>/dev/null || python3 -m pip install -q --break-system-packages numpy || \
    echo "bootstrap: numpy not installed; the numpy interoperability tests will be skipped"
fi

build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFEDGUARD_CUDA="${FEDGUARD_CUDA:-AUTO}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "bootstrap: built $build_dir/bin/fedguard"
