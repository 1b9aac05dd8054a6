#!/bin/bash
# The recommended preset's pass 2 with NNM's mixing by the SGEMM (FEDGUARD_CPU_MIX=sgemm) and
# by float64 sums of rows (the default since this record), alternating, REPS times each.
#   run.sh PASS_CPU_TIME_BINARY FEDGUARD_BINARY UPDATES_100x1e6.npy UPDATES_1000x1e5.npy REPS
# 1. one thread's CPU time of the pass alone (bench/pass_cpu_time.cc, mode nnm-trimmed: the
#    trimmed mean, b = n / 10, of NNM's rows with f = n / 5), minimum of 3 per run, with
#    OpenBLAS's kernel named (SkylakeX, Haswell with the AVX2 lanes) and with OpenBLAS's own
#    choice on this VM (Prescott, what a Python process gets unless told);
# 2. `fedguard round` with the preset (f = n / 5), both cores, the engine's stage times.
set -euo pipefail
pass=$1 cli=$2 r100=$3 r1000=$4 reps=${5:-3}
t() { env "$@" | sed -E 's/.*: ([0-9.]+) ms CPU.*/\1/'; }
for r in $(seq "$reps"); do
  for n_d in "20 1000000" "50 1000000" "100 1000000" "1000 100000"; do
    set -- $n_d
    for kernel in SkylakeX; do
      a=$(t OPENBLAS_CORETYPE=$kernel FEDGUARD_CPU_MIX=sgemm "$pass" $1 $2 3 nnm-trimmed)
      b=$(t OPENBLAS_CORETYPE=$kernel "$pass" $1 $2 3 nnm-trimmed)
      echo "pass2 nnm-trimmed $1 x $2 kernel $kernel: sgemm $a ms, sums $b ms"
    done
  done
  a=$(t OPENBLAS_CORETYPE=Haswell FEDGUARD_CPU_LANES=avx2 FEDGUARD_CPU_MIX=sgemm "$pass" 100 1000000 3 nnm-trimmed)
  b=$(t OPENBLAS_CORETYPE=Haswell FEDGUARD_CPU_LANES=avx2 "$pass" 100 1000000 3 nnm-trimmed)
  echo "pass2 nnm-trimmed 100 x 1000000 kernel Haswell, AVX2 lanes: sgemm $a ms, sums $b ms"
  a=$(t -u OPENBLAS_CORETYPE FEDGUARD_CPU_MIX=sgemm "$pass" 100 1000000 3 nnm-trimmed)
  b=$(t -u OPENBLAS_CORETYPE "$pass" 100 1000000 3 nnm-trimmed)
  echo "pass2 nnm-trimmed 100 x 1000000 kernel OpenBLAS's own: sgemm $a ms, sums $b ms"
done
out=$(mktemp -d)
echo '{"preset":"recommended","f":20}' > "$out/p100.json"
echo '{"preset":"recommended","f":200}' > "$out/p1000.json"
for r in $(seq "$reps"); do
  for pair in "$r100 p100" "$r1000 p1000"; do
    set -- $pair
    for mix in sgemm sums; do
      if [ $mix = sgemm ]; then cap=sgemm; else cap=; fi
      env FEDGUARD_CPU_MIX=$cap "$cli" round --config "$out/$2.json" --updates "$1" \
        --out "$out/$mix.json" --aggregate-out "$out/$mix.npy" > /dev/null
      python3 -c "import json,sys; r=json.load(open('$out/$mix.json')); t=r['timings_ms']; print('round $2 $mix', {k: round(t[k],1) for k in ('pass1_scan','detect','pass2_aggregate','total')})"
    done
    python3 -c "
import json, numpy as np
a, b = (json.load(open('$out/%s.json' % m)) for m in ('sgemm', 'sums'))
x, y = np.load('$out/sgemm.npy').astype(np.float64), np.load('$out/sums.npy').astype(np.float64)
print('  same mask:', a['accepted'] == b['accepted'], ' aggregates: max |difference| / max |value| = %.2e' % (np.abs(x - y).max() / np.abs(x).max()))"
  done
done
rm -rf "$out"
