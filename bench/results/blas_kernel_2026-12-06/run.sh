#!/bin/bash
# The same rounds through `fedguard round` with OpenBLAS's own kernel choice
# (FEDGUARD_KEEP_BLAS_KERNEL=1) and with the command line's restart (the variable unset),
# alternating, REPS times each; prints the engine's stage times (ms) of every run.
# usage: run.sh FEDGUARD_BINARY UPDATES.npy POLICY.json REPS
set -euo pipefail
cli=$1 updates=$2 policy=$3 reps=${4:-2}
out=$(mktemp -d)
for r in $(seq "$reps"); do
  for mode in keep restart; do
    if [ "$mode" = keep ]; then keep=1; else keep=0; fi
    env -u OPENBLAS_CORETYPE FEDGUARD_KEEP_BLAS_KERNEL=$keep "$cli" round --config "$policy" \
      --updates "$updates" --out "$out/$mode.json" > /dev/null
    python3 - "$out/$mode.json" "$mode" "$policy" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = {k: round(v, 1) for k, v in r["timings_ms"].items()}
print(sys.argv[2], sys.argv[3].split("/")[-1], "rejected", sum(1 for a in r["accepted"] if not a), t)
PY
  done
  cmp <(python3 -c "import json,sys;r=json.load(open('$out/keep.json'));print(r['accepted'],r['weights'])") \
      <(python3 -c "import json,sys;r=json.load(open('$out/restart.json'));print(r['accepted'],r['weights'])") \
    && echo "same mask and weights"
done
rm -rf "$out"
