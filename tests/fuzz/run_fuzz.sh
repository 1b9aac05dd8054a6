#!/usr/bin/env bash
# Longer fuzzing runs of the file readers: builds the libFuzzer targets with clang into
# build-fuzz/ (or $BUILD_DIR) and runs each for SECONDS (default 600) on a scratch corpus
# seeded from tests/fuzz/corpus/<target>/. Crashes are written to build-fuzz/crashes/.
# Usage: tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]   (targets: safetensors npy manifest state registry config pt)
# `pt` (.pt rounds through LibTorch's reader) configures the build with -DFEDGUARD_TORCH=ON and runs
# in libFuzzer's fork mode ignoring out-of-memory inputs: LibTorch's unpickler allocates what a
# pickle states before reading it (docs/security.md, "Known limits"), which would stop the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
shift || true
targets=("$@")
# config (config_fuzz) links the whole core library built with clang (~12 minutes on 2 cores):
# not in the default list that CI runs; run it by name (run_fuzz.sh 600 config; docs/security.md
# has the 600 s run of 2026-12-03).
((${#targets[@]})) || targets=(safetensors npy manifest state registry)
build="${BUILD_DIR:-build-fuzz}"
torch=OFF
[[ " ${targets[*]} " == *" pt "* ]] && torch=ON
CC=clang CXX=clang++ cmake -S . -B "$build" -DFEDGUARD_FUZZ=ON -DFEDGUARD_CUDA=OFF -DFEDGUARD_PYTHON=OFF \
  -DFEDGUARD_BUILD_BENCH=OFF -DFEDGUARD_TORCH=$torch >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf '%s_fuzz ' "${targets[@]}")
mkdir -p "$build/crashes"
for t in "${targets[@]}"; do
  scratch="$build/tests/fuzz/corpus_$t"
  mkdir -p "$scratch"
  echo "== $t: ${seconds}s"
  extra=()
  asan="${ASAN_OPTIONS:-}"
  if [[ "$t" == pt ]]; then  # LibTorch's own allocations: not leak-checked, huge ones an error
    extra=(-fork=1 -ignore_ooms=1 -ignore_timeouts=1)
    asan="detect_leaks=0:allocator_may_return_null=1"
  fi
  ASAN_OPTIONS="$asan" "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "${extra[@]}" \
    -artifact_prefix="$build/crashes/${t}-" -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$t"
done
