#!/usr/bin/env bash
# One script for a GPU machine: builds the CUDA backend for sm_90, runs the GPU tests (ctest
# label gpu), compute-sanitizer memcheck and racecheck on them, and the GPU benchmark against
# PyTorch. Everything it writes goes under $OUT when set (else bench/results/gpu_run_<date>/).
#
# Usage: bench/gpu/run_gpu.sh
# Environment:
#   BUILD_DIR=build-gpu   build directory (configured here)
#   JOBS=$(nproc)         build parallelism
#   BENCH=1               0 skips the benchmark (tests and sanitizers only)
#   BENCH_ARGS            extra arguments for bench/gpu_vs_torch.py (e.g. "--n 100,1000 --d 1e5,1e6")
#   SANITIZER_FILTER      gtest filter for the sanitizer runs (small shapes keep them short)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DATE="$(date -u +%Y-%m-%d)"
RES="${OUT:-$ROOT/bench/results/gpu_run_$DATE}"
mkdir -p "$RES"
BUILD_DIR="${BUILD_DIR:-build-gpu}"
JOBS="${JOBS:-$(nproc)}"
BENCH="${BENCH:-1}"
SANITIZER_FILTER="${SANITIZER_FILTER:-Shapes/CudaVsCpu.EveryPrimitiveAndRule/*n3_*:Shapes/CudaVsCpu.EveryPrimitiveAndRule/*n32_float32*:CudaBackend.NaN*}"
STATUS=0
log() { echo "[run_gpu] $*" | tee -a "$RES/run_gpu.log" >&2; }
step() {  # step NAME CMD...: runs CMD, logs to $RES/NAME.log, records failures, goes on
  local name="$1"; shift
  log "$name: $*"
  if "$@" > "$RES/$name.log" 2>&1; then log "$name: ok"; else log "$name: FAILED (rc $?), see $name.log"; STATUS=1; fi
}

{
  echo "date: $(date -u)"; echo "commit: $(git rev-parse HEAD 2>/dev/null)"
  nvidia-smi 2>&1 | head -20; nvcc --version 2>&1 | tail -2
} > "$RES/machine.txt"

CUDA_BIN="$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")"
export PATH="$CUDA_BIN:$PATH"
step configure cmake -S . -B "$BUILD_DIR" -DFEDGUARD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DFEDGUARD_PYTHON=OFF \
  -DCMAKE_BUILD_TYPE=Release
step build cmake --build "$BUILD_DIR" -j "$JOBS" --target fedguard_cuda_tests fedguard_cuda_plan_tests fedguard_gpu_bench fedguard_cli
"$BUILD_DIR/bin/fedguard" info > "$RES/fedguard_info.txt" 2>&1 || true
step ctest_gpu ctest --test-dir "$BUILD_DIR" -L gpu --output-on-failure --output-junit "$RES/ctest_gpu.xml"
step plan_tests "$BUILD_DIR/tests/fedguard_cuda_plan_tests"

SAN="$(command -v compute-sanitizer || echo "$CUDA_BIN/compute-sanitizer")"
if [ -x "$SAN" ]; then
  step memcheck "$SAN" --tool memcheck --leak-check full --error-exitcode 1 \
    "$BUILD_DIR/tests/fedguard_cuda_tests" --gtest_filter="$SANITIZER_FILTER"
  step racecheck "$SAN" --tool racecheck --racecheck-report all --error-exitcode 1 \
    "$BUILD_DIR/tests/fedguard_cuda_tests" --gtest_filter="$SANITIZER_FILTER"
  step synccheck "$SAN" --tool synccheck --error-exitcode 1 \
    "$BUILD_DIR/tests/fedguard_cuda_tests" --gtest_filter="$SANITIZER_FILTER"
else
  log "compute-sanitizer not found: skipped"; STATUS=1
fi

if [ "$BENCH" = "1" ]; then
  # shellcheck disable=SC2086
  step bench python3 bench/gpu_vs_torch.py --bench "$BUILD_DIR/bench/fedguard_gpu_bench" --out "$RES" ${BENCH_ARGS:-}
  cat "$RES"/gpu_*.md >&2 2>/dev/null || true
fi
log "done: status $STATUS, results in $RES"
exit $STATUS
