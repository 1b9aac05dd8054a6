#!/bin/sh
# Pass 2's median and trimmed mean (b = n / 10) alone, base (the networks; the same source with
# the counting kernels switched off) and new alternating, one thread's CPU time (minimum of 5,
# three rounds), then both cores' wall-clock time (two rounds).
#   run_pass.sh BASE_PASS_BINARY NEW_PASS_BINARY > pass.txt
base=$1 new=$2
for what in median trimmed; do
for shape in "100 1000000" "512 195312" "640 156250" "768 130208" "1000 100000" "2048 48828" "4096 24414" "8192 12207"; do
  for round in 1 2 3; do
    for b in base new; do
      eval bin=\$$b
      echo "$b 1T $($bin $shape 5 $what | tail -1)"
    done
  done
  for round in 1 2; do
    for b in base new; do
      eval bin=\$$b
      echo "$b 2T $($bin $shape 5 $what 2 | tail -1)"
    done
  done
done
done
