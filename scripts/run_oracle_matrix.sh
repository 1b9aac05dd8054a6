#!/usr/bin/env bash
# The recommended preset against the benign-only oracle (issue #13): examples/sim/matrix_oracle.json
# at the standard setting (examples/sim/standard.json) for each seed and Dirichlet alpha given,
# then scripts/oracle_report.py's table of accuracy minus the oracle, TPR, FPR and backdoor
# success.
#
# Usage: scripts/run_oracle_matrix.sh BUILD_DIR OUT_DIR [SEEDS="1 2 3"] [ALPHAS="0.5 0.1"]
#        [CLIENTS=50 MALICIOUS=10 ROUNDS=100 JOBS=2 in the environment]
# A cell that has a result is not rerun (the matrix's own resume), so an interrupted run
# continues where it stopped.
set -euo pipefail
BUILD="${1:?build dir}"
OUT="${2:?output dir}"
SEEDS="${3:-1 2 3}"
ALPHAS="${4:-0.5 0.1}"
CLIENTS="${CLIENTS:-50}"
MALICIOUS="${MALICIOUS:-10}"
ROUNDS="${ROUNDS:-100}"
JOBS="${JOBS:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The simulated server runs the engine of the LibTorch plugin the binary loads (docs/simulator.md):
# without one beside the binary (bin/ or ../lib/) or FEDGUARD_TORCH_PLUGIN, that is the build
# tree's, which a rebuild during a long run would change under it.
if [[ -z "${FEDGUARD_TORCH_PLUGIN:-}" && ! -e "$BUILD/bin/libfedguard_torch.so" &&
      ! -e "$BUILD/lib/libfedguard_torch.so" ]]; then
  echo "run_oracle_matrix: no libfedguard_torch.so in $BUILD/bin or $BUILD/lib; copy it beside" \
       "the binary or set FEDGUARD_TORCH_PLUGIN" >&2
  exit 2
fi
mkdir -p "$OUT"
# Two matrices per setting: the oracle over "none" and "backdoor" only (it leaves the attackers
# out, so every attacked cell of its row is the same run: tests/sim/simulate_test.cc checks it
# bit for bit; "backdoor" also measures the clean model's backdoor success), and every other
# policy of the file over every attack.
python3 - "$ROOT/examples/sim/matrix_oracle.json" "$OUT" "$MALICIOUS" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["policies"]["recommended"]["f"] = int(sys.argv[3])
oracle = {"policies": {"benign_oracle": m["policies"].pop("benign_oracle")},
          "attacks": {k: v for k, v in m["attacks"].items() if k in ("none", "backdoor")}}
json.dump(oracle, open(sys.argv[2] + "/matrix_oracle_row.json", "w"), indent=2)
json.dump({"policies": m["policies"], "attacks": m["attacks"]}, open(sys.argv[2] + "/matrix_policies.json", "w"), indent=2)
PY
for alpha in $ALPHAS; do
  for seed in $SEEDS; do
    dir="$OUT/n${CLIENTS}_alpha${alpha}_seed${seed}"
    mkdir -p "$dir"
    python3 - "$ROOT/examples/sim/standard.json" "$dir/base.json" "$alpha" "$seed" "$CLIENTS" "$MALICIOUS" "$ROUNDS" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for k in ("policy", "attack", "out_dir"):
    c.pop(k, None)
c.update(alpha=float(sys.argv[3]), seed=int(sys.argv[4]), clients=int(sys.argv[5]),
         malicious=int(sys.argv[6]), rounds=int(sys.argv[7]))
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
    "$BUILD/bin/fedguard" simulate --config "$dir/base.json" --matrix "$OUT/matrix_oracle_row.json" --jobs "$JOBS" --out-dir "$dir/oracle"
    "$BUILD/bin/fedguard" simulate --config "$dir/base.json" --matrix "$OUT/matrix_policies.json" --jobs "$JOBS" --out-dir "$dir/policies"
  done
done
python3 "$ROOT/scripts/oracle_report.py" "$OUT"/n*_alpha*_seed* > "$OUT/report.md"
cat "$OUT/report.md"
