#!/usr/bin/env bash
# GPU half of issue #8: bench/compare.py with the CUDA peers and fedguard's CUDA backend, and the
# GPU scaling runs (n = 10,000 x d = 1e6 resident; n = 100 x d = 1e8 streamed), on the lent GPU
# machine (see /work/.library/device/README.md: no internet there, 10 minutes per command,
# results only under $OUT, at most 8 files back).
#
# Step 1, here (a machine with PyPI access), once:
#     bench/gpu/run_compare_gpu.sh fetch
#   downloads the two peers that the GPU image lacks, as pure-Python wheels, into .whl/ (ignored
#   by git; carry it): byzfl 0.0.11 (installed there with --no-deps: its needs, torch, numpy,
#   scipy, matplotlib, are in the image) and flwr 1.42.0 (only unpacked there: Flower's server
#   dependencies are not in the image, so bench/compare_peers.py loads the unmodified
#   flwr/server/strategy/aggregate.py from it with stand-ins for its two type-only imports).
#
# Step 2, on the GPU machine, one device `run` per phase (each fits the 10-minute limit):
#     run(command="bash bench/gpu/run_compare_gpu.sh compare",  carry=[".whl", "<fedguard build>"])
#     run(command="bash bench/gpu/run_compare_gpu.sh scaling_n", carry=[".whl", "<fedguard build>"])
#     run(command="bash bench/gpu/run_compare_gpu.sh scaling_d", carry=[".whl", "<fedguard build>"])
#   (the tool sets OUT there, so the files come back). Phases:
#           compare   the grid n {10,100,1000} x d {1e4,1e5,1e6}, every rule: fedguard CUDA
#                     (resident and streamed, fp32 and fp16), byzfl on CUDA tensors, torch on CUDA,
#                     fedguard CPU and the CPU peers for reference only with CPU=1 (they take long);
#                     floors: device-to-device copy, cuBLAS GEMM (torch), host-to-device copies
#           scaling_n fedguard CUDA, input resident, along n (d = 1e6, n up to 10,000: 40 GB on the GPU)
#           scaling_d fedguard CUDA, input streamed from host memory, along d (n = 100, d up to 1e8:
#                     40 GB of host memory)
#           all       both, one after the other (needs more than one 10-minute command)
#   Results: $OUT/compare_<gpu>_<date>.{md,json,_vs_n.png,_vs_d.png} and
#   $OUT/scaling_{n,d}_<gpu>_<date>.{md,json,png}; copy them into bench/results/ and summarise them in
#   docs/performance.md.
#
# fedguard with CUDA: this script uses, in order, FEDGUARD_PYTHONPATH (a directory holding a
# CUDA-built `fedguard` package, e.g. from bench/gpu/run_gpu.sh in the same command), a carried
# build tree (build-gpu*/python or build-cuda*/python with a CUDA _core), or builds one into
# build-compare-gpu (needs OpenBLAS, LAPACKE, nlohmann-json and CLI11 headers on that machine;
# set FEDGUARD_DEPS_PREFIX to an unpacked prefix of them if the image lacks them). Without any,
# the peers and floors still run (--allow-missing-fedguard) and the tables say fedguard is missing.
#
# Environment: OUT (default bench/results), PYTHON (default python3), CPU=1 (also the CPU peers),
# LIMIT_S (default 30: peers predicted or measured above it are not repeated / not run),
# REPEATS (default 5), COMPARE_ARGS / SCALING_ARGS (extra arguments).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PHASE="${1:-compare}"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-bench/results}"
mkdir -p "$OUT"
log() { echo "[run_compare_gpu] $*" >&2; }

if [ "$PHASE" = fetch ]; then
  mkdir -p .whl
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d .whl byzfl==0.0.11 flwr==1.42.0
  ls -la .whl
  exit 0
fi

# ---- peers from the carried wheels (no network) ------------------------------------------------
SITE=/tmp/fedguard_compare_site
mkdir -p "$SITE"
if ! "$PYTHON" -c "import importlib.util as u; raise SystemExit(u.find_spec('byzfl') is None)" 2>/dev/null; then
  if ls .whl/byzfl-*.whl >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" .whl/byzfl-*.whl
  else
    log "no .whl/byzfl-*.whl carried: byzfl will be reported as not installed"
  fi
fi
if ! "$PYTHON" -c "import flwr.server.strategy.aggregate" 2>/dev/null; then
  if ls .whl/flwr-*.whl >/dev/null 2>&1; then
    rm -rf /tmp/fedguard_compare_flwr && mkdir -p /tmp/fedguard_compare_flwr
    "$PYTHON" -m zipfile -e .whl/flwr-*.whl /tmp/fedguard_compare_flwr
    export FEDGUARD_COMPARE_FLWR_DIR=/tmp/fedguard_compare_flwr
  else
    log "no .whl/flwr-*.whl carried: Flower will be reported as not installed"
  fi
fi

# ---- fedguard with its CUDA backend ------------------------------------------------------------
has_cuda_core() {  # $1: a directory holding fedguard/
  PYTHONPATH="$1" "$PYTHON" -c "import fedguard, sys; sys.exit('cuda' not in fedguard.backends_built())" 2>/dev/null
}
FG_PATH="${FEDGUARD_PYTHONPATH:-}"
if [ -z "$FG_PATH" ]; then
  for cand in build-gpu*/python build-cuda*/python build-compare-gpu/python; do
    if [ -d "$cand/fedguard" ] && has_cuda_core "$cand"; then FG_PATH="$cand"; break; fi
  done
fi
[ -x /usr/local/cuda/bin/nvcc ] && export PATH="$PATH:/usr/local/cuda/bin"
if [ -z "$FG_PATH" ] && command -v nvcc >/dev/null 2>&1; then
  log "building fedguard (CUDA + Python) into build-compare-gpu"
  extra=()
  [ -n "${FEDGUARD_DEPS_PREFIX:-}" ] && extra+=("-DCMAKE_PREFIX_PATH=$FEDGUARD_DEPS_PREFIX")
  pyb="$("$PYTHON" -m pybind11 --cmakedir 2>/dev/null || true)"
  [ -n "$pyb" ] && extra+=("-Dpybind11_DIR=$pyb")
  if cmake -S . -B build-compare-gpu -DCMAKE_BUILD_TYPE=Release -DFEDGUARD_CUDA=ON -DFEDGUARD_PYTHON=ON \
       -DFEDGUARD_BUILD_TESTS=OFF -DFEDGUARD_BUILD_BENCH=OFF -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
       "${extra[@]}" > "$OUT/build-compare-gpu.log" 2>&1 &&
     cmake --build build-compare-gpu -j "$(nproc)" >> "$OUT/build-compare-gpu.log" 2>&1; then
    FG_PATH=build-compare-gpu/python
  else
    log "fedguard could not be built here (see $OUT/build-compare-gpu.log); running the peers and floors only"
  fi
fi
if [ -n "$FG_PATH" ] && ! has_cuda_core "$FG_PATH"; then
  log "fedguard at $FG_PATH has no CUDA backend: fedguard CUDA rows will say so"
fi
export PYTHONPATH="${FG_PATH:+$FG_PATH:}$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv 2>&1 | tee "$OUT/gpu_info.txt" >&2 || true
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" >&2

LIMIT_S="${LIMIT_S:-30}"
REPEATS="${REPEATS:-5}"
DEVICES=cuda
[ "${CPU:-0}" = 1 ] && DEVICES=cpu,cuda
common=(--out-dir "$OUT" --limit-s "$LIMIT_S" --repeats "$REPEATS" --quiet-wait 0 --allow-missing-fedguard)

run_compare() {
  # The GPU grid: fedguard CUDA is the reference the ratios divide by where it exists.
  # shellcheck disable=SC2086
  "$PYTHON" bench/compare.py "${common[@]}" --devices "$DEVICES" --cell-budget-s 10 ${COMPARE_ARGS:-}
}

run_scaling_n() {
  # n sweep, input resident on the GPU (d = 1e6: n = 10,000 is 40 GB of float32).
  # shellcheck disable=SC2086
  "$PYTHON" bench/compare.py --scaling "${common[@]}" --devices cuda --max-gb 44 --cell-budget-s 20 \
    --impls "fedguard cuda resident" --prefix "scaling_n_$(gpu_tag)_$(date -u +%F)" \
    --scaling-n 100,300,1000,3000,10000 --scaling-fixed-d 1e6 --scaling-d "" ${SCALING_ARGS:-}
}

run_scaling_d() {
  # d sweep, input streamed from (pageable) host memory (n = 100: d = 1e8 is 40 GB).
  # shellcheck disable=SC2086
  "$PYTHON" bench/compare.py --scaling "${common[@]}" --devices cuda --max-gb 44 --cell-budget-s 20 \
    --impls "fedguard cuda streamed" --prefix "scaling_d_$(gpu_tag)_$(date -u +%F)" \
    --scaling-n "" --scaling-d 1e5,1e6,1e7,3e7,1e8 --scaling-fixed-n 100 ${SCALING_ARGS:-}
}

gpu_tag() {
  "$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0).replace('NVIDIA ', '').split()[0].lower())"
}

case "$PHASE" in
  compare) run_compare ;;
  scaling_n) run_scaling_n ;;
  scaling_d) run_scaling_d ;;
  all) run_compare; run_scaling_n; run_scaling_d ;;
  *) echo "usage: $0 fetch|compare|scaling_n|scaling_d|all" >&2; exit 2 ;;
esac
ls -la "$OUT" >&2
