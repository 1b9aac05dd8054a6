#!/usr/bin/env bash
# Builds the GPU check kit on a CPU machine (issue #16): everything a bare, offline CUDA-13 GPU
# machine needs to check fedguard's CUDA backend in one command, in build-gpu-kit/ (ignored by
# git, <= 60 MiB so that it fits the 64 MiB a device run may carry):
#
#   build-gpu-kit/run.sh        the run (a copy of bench/gpu/kit_run.sh); see docs/cuda.md
#   build-gpu-kit/bin/          fedguard (CLI), fedguard_cuda_tests, fedguard_cuda_plan_tests,
#                               fedguard_backend_ops_tests, fedguard_gpu_bench: sm_90, stripped,
#                               libstdc++/libgcc linked statically, RUNPATH $ORIGIN/../lib
#   build-gpu-kit/lib/          every shared library they need that is neither glibc nor CUDA's
#                               (OpenBLAS, LAPACK(E), libgfortran, libquadmath, libgomp, Google
#                               Benchmark), each with RUNPATH $ORIGIN
#   build-gpu-kit/inputs/       comparison rounds (.npy) and the CPU backend's results for them,
#                               made here, so the GPU machine needs no Python to make inputs
#   build-gpu-kit/scripts/      gpu_vs_torch.py (the PyTorch peer), check_kernel_coverage.py,
#                               compare_rounds.py
#   build-gpu-kit/MANIFEST.txt  commit, date, sizes, every binary's NEEDED libraries
#
# CUDA's libraries (cudart, cuBLAS(Lt), cuSOLVER and theirs) come from the GPU machine. No
# LibTorch (FEDGUARD_TORCH=OFF). GoogleTest and LAPACKE are linked statically (LAPACK itself comes
# from OpenBLAS, which includes it). bin/ and lib/ are packed into payload.tar.xz, which run.sh
# unpacks in place before anything runs.
#
# Usage: bench/gpu/make_kit.sh            (JOBS=2, KIT_BUILD_DIR=build-gpu-kit-obj, KIT_DIR=build-gpu-kit)
# Exit status: non-zero when the build fails, a needed library is neither in the kit nor one of
# CUDA's / glibc's, the kernel coverage check fails, or the kit exceeds 60 MiB.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export PATH="$PATH:/usr/local/cuda/bin"
BUILD="${KIT_BUILD_DIR:-build-gpu-kit-obj}"
KIT="${KIT_DIR:-build-gpu-kit}"
JOBS="${JOBS:-2}"
MAX_BYTES=$((60 * 1024 * 1024))
log() { echo "[make_kit] $*" >&2; }

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFEDGUARD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DFEDGUARD_TORCH=OFF -DFEDGUARD_PYTHON=OFF -DFEDGUARD_BUILD_TESTS=ON -DFEDGUARD_BUILD_BENCH=ON -DFEDGUARD_FUZZ=OFF -DFEDGUARD_CUDA_PLUGIN=OFF \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" \
  -DFEDGUARD_LAPACKE_LIBRARY=/usr/lib/x86_64-linux-gnu/liblapacke.a "${launcher[@]}" >/dev/null
TARGETS=(fedguard_cli fedguard_cuda_tests fedguard_cuda_plan_tests fedguard_backend_ops_tests fedguard_gpu_bench)
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

rm -rf "${KIT:?}"
mkdir -p "$KIT/bin" "$KIT/lib" "$KIT/inputs" "$KIT/scripts"
cp "$BUILD/bin/fedguard" "$KIT/bin/"
cp "$BUILD/tests/fedguard_cuda_tests" "$BUILD/tests/fedguard_cuda_plan_tests" "$BUILD/tests/fedguard_backend_ops_tests" "$KIT/bin/"
cp "$BUILD/bench/fedguard_gpu_bench" "$KIT/bin/"
strip --strip-unneeded "$KIT"/bin/*

# A library is CUDA's (taken from the GPU machine) or glibc's (the system's) by its name.
is_cuda_lib() { [[ "$1" =~ ^lib(cudart|cublas|cublasLt|cusolver|cusparse|nvJitLink|nvrtc|cuda|nvidia-ml)\.so ]]; }
is_system_lib() { [[ "$1" =~ ^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|linux-vdso|libresolv)\.so ]]; }

# Copy every other shared library ldd resolves for the binaries (and, transitively, for the
# copied libraries) under its SONAME.
copy_deps() {
  local f="$1" name path
  while read -r name path; do
    [ -n "$name" ] || continue
    if is_cuda_lib "$name" || is_system_lib "$name"; then continue; fi
    if [ "$path" = "not" ] || [ -z "$path" ]; then log "ERROR: $f needs $name, which is not found here"; exit 1; fi
    if [ ! -e "$KIT/lib/$name" ]; then
      cp -L "$path" "$KIT/lib/$name"
      chmod u+w "$KIT/lib/$name"
      copy_deps "$KIT/lib/$name"
    fi
  done < <(ldd "$f" | awk '/=>/ {print $1, $3} !/=>/ && /^\s*\// {next}')
}
for b in "$KIT"/bin/*; do copy_deps "$b"; done
strip --strip-unneeded "$KIT"/lib/* 2>/dev/null || true
for b in "$KIT"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib:/usr/local/cuda/lib64:/usr/local/cuda/lib' "$b"; done
for l in "$KIT"/lib/*; do patchelf --set-rpath '$ORIGIN' "$l"; done

# Comparison inputs and the CPU backend's answers (the kit's own CLI, backend cpu).
python3 bench/gpu/make_kit_inputs.py --fedguard "$KIT/bin/fedguard" --out "$KIT/inputs"

cp bench/gpu/kit_run.sh "$KIT/run.sh"
chmod +x "$KIT/run.sh"
cp bench/gpu_vs_torch.py bench/gpu/check_kernel_coverage.py bench/gpu/compare_rounds.py "$KIT/scripts/"
# The kernel -> test map, made from the sources here (the kit holds no sources).
python3 bench/gpu/check_kernel_coverage.py --root . --tests "$KIT/bin/fedguard_cuda_tests" \
  --write-filter "$KIT/scripts/sanitizer_filter.txt" > "$KIT/scripts/kernel_coverage.txt"

# Checks: every NEEDED library is in the kit, CUDA's or glibc's; size.
status=0
{
  echo "fedguard GPU kit"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!build*' || echo ' (+ uncommitted changes)')"
  echo "made: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'), sm_90"
  echo "glibc needed (highest symbol version): $(objdump -T "$KIT"/bin/* "$KIT"/lib/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  for f in "$KIT"/bin/* "$KIT"/lib/*; do
    echo "$(basename "$f"): RUNPATH $(patchelf --print-rpath "$f"); NEEDED $(patchelf --print-needed "$f" | tr '\n' ' ')"
  done
} > "$KIT/MANIFEST.txt"
for f in "$KIT"/bin/* "$KIT"/lib/*; do
  for need in $(patchelf --print-needed "$f"); do
    if is_cuda_lib "$need" || is_system_lib "$need" || [ -e "$KIT/lib/$need" ]; then continue; fi
    log "ERROR: $(basename "$f") needs $need: not in the kit, not CUDA's, not glibc's"; status=1
  done
done
# bin/ and lib/ travel as one xz archive (OpenBLAS alone is 36 MB unpacked); run.sh unpacks it
# into the kit, where the RUNPATH $ORIGIN/../lib finds the libraries.
unpacked=$(du -sb "$KIT/bin" "$KIT/lib" | awk '{s += $1} END {print s}')
tar -C "$KIT" -cf - bin lib | xz -T2 -6 > "$KIT/payload.tar.xz"
rm -rf "${KIT:?}/bin" "${KIT:?}/lib"
bytes=$(du -sb "$KIT" | cut -f1)
echo "size: $bytes bytes ($((bytes / 1024 / 1024)) MiB; limit 60 MiB); bin/ + lib/ unpacked: $((unpacked / 1024 / 1024)) MiB" >> "$KIT/MANIFEST.txt"
if [ "$bytes" -gt "$MAX_BYTES" ]; then log "ERROR: the kit is $bytes bytes, over 60 MiB"; status=1; fi
cat "$KIT/MANIFEST.txt" >&2
log "kit in $KIT ($((bytes / 1024 / 1024)) MiB); carry it and run: bash $KIT/run.sh  (docs/cuda.md)"
exit $status
