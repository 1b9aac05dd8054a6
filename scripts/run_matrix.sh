#!/usr/bin/env bash
# The attack matrix of docs/evaluation.md: every policy x attack of examples/sim/matrix.json at
# the standard setting (examples/sim/standard.json), 2 cells at a time (one thread each), then
# the heat maps. Cells with a result are not run again (delete OUT_DIR/cells/... to redo one).
# Usage: scripts/run_matrix.sh [BUILD_DIR] [OUT_DIR]    (defaults: build, sim-matrix)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
out_dir="${2:-sim-matrix}"
start=$(date +%s)
"$build_dir/bin/fedguard" simulate --config examples/sim/standard.json --matrix examples/sim/matrix.json \
  --jobs "${JOBS:-2}" --out-dir "$out_dir"
echo "run_matrix: $(( $(date +%s) - start )) s wall"
if python3 -c "import matplotlib" 2>/dev/null; then
  python3 scripts/plot_matrix.py "$out_dir/matrix.json" --out "$out_dir/matrix.png"
else
  echo "run_matrix: matplotlib is missing: no heat map"
fi
