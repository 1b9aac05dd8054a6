#!/usr/bin/env bash
# Installs what fedguard needs (Debian packages; Python packages for the Python module and the
# tests) and builds it into build/, the Python module included (build/python/fedguard).
# Safe to re-run: installs only what is missing, rebuilds incrementally.
# Environment: BUILD_DIR (default build), FEDGUARD_CUDA (AUTO|ON|OFF).
#
# `scripts/bootstrap.sh --python`: the light path for Python users (docs/python.md): only the
# Debian packages `pip install .` compiles against, then `pip install -v .` into the active
# Python (a virtual environment is best): no tests, benchmarks, simulator or test packages.
set -euo pipefail
cd "$(dirname "$0")/.."

python_only=0
[ "${1:-}" != "--python" ] || python_only=1
packages=(cmake g++ make pkg-config patchelf libopenblas-dev liblapacke-dev nlohmann-json3-dev libcli11-dev
          libgtest-dev libbenchmark-dev libssl-dev python3 python3-pip python3-venv
          libtorch-dev zlib1g-dev dataset-fashion-mnist  # these three: `fedguard simulate`
          clang libclang-rt-dev  # libFuzzer for the file readers' fuzz targets (tests/fuzz)
          clang-format clang-tidy  # the style check (scripts/check_style.sh)
          prometheus)  # the monitoring test's real Prometheus server and promtool (docs/monitoring.md)
# Not installed here (CI builds the default, Debian's OpenBLAS): the other BLAS builds
# (-DFEDGUARD_BLAS=..., README "Choosing the BLAS") need `apt-get install libblis-dev` (blis),
# `pip install scipy-openblas32` (scipy-openblas) or `pip install mkl-devel mkl-include` (mkl).
if ((python_only)); then  # what `pip install .` compiles against (CMake's FedguardDependencies)
  packages=(cmake g++ make libopenblas-dev liblapacke-dev nlohmann-json3-dev libcli11-dev libssl-dev
            python3 python3-pip python3-venv)
fi
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
pip_install() {  # PEP 668 systems need --break-system-packages for the system python
  python3 -m pip install -q --disable-pip-version-check "$@" 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "$@"
}
if ((python_only)); then
  # Build isolation fetches scikit-build-core and pybind11; CMake's output shows the progress.
  if python3 -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    python3 -m pip install -v --disable-pip-version-check .
  else
    python3 -m pip install -v --disable-pip-version-check . ||
      python3 -m pip install -v --disable-pip-version-check --break-system-packages .
  fi
  echo "bootstrap: installed the fedguard package and command line into $(python3 -c 'import sys; print(sys.prefix)')"
  exit 0
fi
if ! python3 -c "import numpy" 2>/dev/null; then
  pip_install numpy || echo "bootstrap: numpy not installed; the numpy interoperability tests will be skipped"
fi
# Python module and tests (docs/python.md): pybind11 and scikit-build-core build it, the rest is
# what tests/python uses. byzfl (the reference aggregators the tests compare with) comes
# without its dependencies, which include torch and torchvision (several GB of CUDA wheels).
# hdbscan is the reference FLAME's clustering is compared with (tests/cluster).
python_packages=("pybind11>=2.12" "scikit-build-core>=0.10" pytest numpy scipy ml_dtypes
                 "flwr[simulation]>=1.42,<1.43" "hdbscan==0.8.44"
                 pynacl cryptography  # these two: independent Ed25519 for tests/python/test_identity.py
                 "river>=0.26,<0.27" "prometheus_client>=0.17")  # monitoring: Page-Hinkley oracle, pull endpoint
# (pip returns at once when they are already there.)
{ pip_install "${python_packages[@]}" && pip_install --no-deps "byzfl==0.0.11"; } ||
  echo "bootstrap: some Python packages could not be installed; the Python tests that need them will be skipped"
python_args=(-DFEDGUARD_PYTHON=OFF)
if python3 -c "import pybind11" 2>/dev/null; then
  python_args=(-DFEDGUARD_PYTHON=ON -DPython_EXECUTABLE="$(python3 -c 'import sys; print(sys.executable)')")
else
  echo "bootstrap: pybind11 is missing: building without the Python module"
fi

# The simulator (docs/simulator.md) where LibTorch is installed.
torch_args=(-DFEDGUARD_TORCH=OFF)
if [ -f /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake ] || dpkg -s libtorch-dev >/dev/null 2>&1; then
  torch_args=(-DFEDGUARD_TORCH=ON)
else
  echo "bootstrap: LibTorch (libtorch-dev) is missing: building without the simulator"
fi

build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DFEDGUARD_CUDA="${FEDGUARD_CUDA:-AUTO}" \
  "${python_args[@]}" "${torch_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "bootstrap: built $build_dir/bin/fedguard"
