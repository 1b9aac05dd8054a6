#!/usr/bin/env bash
# Pass 2 alone (fedguard_pass_cpu_time), one thread: the base build ($BASE, a51a8d9: counting on
# AVX-512 only) against the new one ($NEW), alternating, two rounds, capped at AVX2
# (FEDGUARD_CPU_LANES=avx2) and uncapped (AVX-512: unchanged code, one source now).
# Usage: run_pass.sh BASE NEW
set -u
BASE=$1 NEW=$2
for round in 1 2; do
  for spec in "640 156250 median" "1000 100000 median" "1000 100000 trimmed" "1500 66666 trimmed" \
              "2048 48828 median" "2048 48828 trimmed" "4096 24414 median" "4096 24414 trimmed"; do
    set -- $spec
    for b in "$BASE" "$NEW"; do
      echo "round $round $(basename "$b") lanes=avx2 $(FEDGUARD_CPU_LANES=avx2 "$b" $1 $2 3 $3 1 2>&1 | tail -1)"
      echo "round $round $(basename "$b") lanes=avx512 $("$b" $1 $2 3 $3 1 2>&1 | tail -1)"
    done
  done
done
