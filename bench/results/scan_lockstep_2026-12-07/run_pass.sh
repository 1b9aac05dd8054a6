#!/usr/bin/env bash
# Pass 1 with the Gram (scan-gram), the base build (a51a8d9^, copied to $BASE) against the new
# one ($NEW), alternating, three rounds; then the bare SSYRK of the same tiles (the item 2 floor)
# with the machine's OPENBLAS variables set and unset. Usage: run_pass.sh BASE NEW
set -u
BASE=$1 NEW=$2
for round in 1 2 3; do
  for shape in "100 1000000" "10 1000000" "300 333333" "1000 100000" "100 10000"; do
    for threads in 1 2; do
      for b in "$BASE" "$NEW"; do
        echo "round $round $(basename "$b") $("$b" $shape 5 scan-gram $threads 2>&1 | tail -1)"
        echo "round $round $(basename "$b") lanes=avx2 $(FEDGUARD_CPU_LANES=avx2 "$b" $shape 5 scan-gram $threads 2>&1 | tail -1)"
      done
    done
  done
done
for threads in 1 2; do
  echo "syrk set: $("$NEW" 100 1000000 5 syrk $threads 2>&1 | tail -1)"
  echo "syrk unset: $(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$NEW" 100 1000000 5 syrk $threads 2>&1 | tail -1)"
done
