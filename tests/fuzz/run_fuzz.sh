#!/usr/bin/env bash
# Longer fuzzing runs of the file readers: builds the libFuzzer targets with clang into
# build-fuzz/ (or $BUILD_DIR) and runs each for SECONDS (default 600) on a scratch corpus
# seeded from tests/fuzz/corpus/<target>/. Crashes are written to build-fuzz/crashes/.
# Usage: tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]   (targets: safetensors npy manifest state registry config)
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
CC=clang CXX=clang++ cmake -S . -B "$build" -DFEDGUARD_FUZZ=ON -DFEDGUARD_CUDA=OFF -DFEDGUARD_PYTHON=OFF \
  -DFEDGUARD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf '%s_fuzz ' "${targets[@]}")
mkdir -p "$build/crashes"
for t in "${targets[@]}"; do
  scratch="$build/tests/fuzz/corpus_$t"
  mkdir -p "$scratch"
  echo "== $t: ${seconds}s"
  "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$build/crashes/${t}-" -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$t"
done
