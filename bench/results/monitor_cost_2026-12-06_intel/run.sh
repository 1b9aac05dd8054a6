#!/usr/bin/env bash
# Monitoring's cost at n = 100, d = 1e6 (issue 15), before and after the state's copy of the
# aggregate moved into the monitoring pass (README.md here):
#   run.sh BASE_BUILD NEW_BUILD > output.txt
# Each build: Release, -DFEDGUARD_PYTHON=ON (NEW_BUILD also with the benchmarks, for
# fedguard_pass_cpu_time). OPENBLAS_CORETYPE=SkylakeX as the command line would set it on the
# Intel VM (a mean's round runs no BLAS: it changes nothing here).
set -euo pipefail
base=$1 new=$2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
echo "# $(date -u +%FT%TZ) $(uptime)"
# 1. The passes alone, paired within each repeat (fedguard_pass_cpu_time, both cores): a mean's
# pass 2, then with the monitoring pass writing the copy (now), then with the copy made apart
# (before).
for i in 1 2 3 4 5; do
  "$new/bench/fedguard_pass_cpu_time" 100 1000000 41 mean,mean-monitor,mean-monitor-then-copy 2
done
# 2. Whole rounds through the Python engine, monitoring on and off taking turns, each build
# twice in alternation.
for i in 1 2; do
  for b in "$base" "$new"; do
    echo "## $b"
    OPENBLAS_CORETYPE=SkylakeX PYTHONPATH="$b/python" python3 "$root/bench/monitor/monitor_cost.py" \
      --n 100 --d 1000000 --policy mean --rounds 41
  done
done
echo "# $(date -u +%FT%TZ) $(uptime)"
