#!/usr/bin/env bash
# Scan throughput against the disk on a log larger than the machine's memory (issue: forensics,
# "scale"). Writes ROUNDS rounds of N x D float32 updates (10% sign-flipped attackers, ground
# truth recorded) with the Python writer into LOG_DIR, measures the disk's sequential read rate
# on the log (dd, O_DIRECT: no page cache), then `fedguard scan` on it twice: Multi-Krum without
# layer scores, and with them. Prints a markdown report on stdout.
# Usage: bench/forensics/scan_scale.sh [LOG_DIR] [ROUNDS] [N] [D]   (defaults: /work/scanlog 66 100 1000000)
# Needs: build/bin/fedguard and build/python (scripts/bootstrap.sh), free disk of ROUNDS*N*D*4 bytes.
# REUSE=1 scans an existing LOG_DIR of that size instead of writing it; KEEP=1 keeps it. Before
# each scan every round file is dropped from the page cache (dd iflag=nocache), so each scan
# reads from the disk whatever the memory size.
set -euo pipefail
cd "$(dirname "$0")/../.."
log="${1:-/work/scanlog}"
rounds="${2:-66}"
n="${3:-100}"
d="${4:-1000000}"
bytes=$((rounds * n * d * 4))
mem=$(awk '/MemTotal/ {printf "%.0f", $2 * 1024}' /proc/meminfo)
echo "# fedguard scan on a log larger than memory: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), memory $((mem >> 20)) MiB"
echo "- source: commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- host include || echo ' + uncommitted changes')"
echo "- command: \`bench/forensics/scan_scale.sh $log $rounds $n $d\`"
echo "- log: $rounds rounds of n = $n x d = $d float32 (safetensors), $((bytes >> 20)) MiB in all ($(awk -v b=$bytes -v m=$mem 'BEGIN {printf "%.2f", b / m}') x memory)"
if [ "${REUSE:-0}" = 1 ] && [ -f "$log/manifest.json" ]; then
  echo "- log: reused (written by an earlier run of this script)"
else
rm -rf "$log"
t0=$(date +%s.%N)
PYTHONPATH=build/python python3 - "$log" "$rounds" "$n" "$d" <<'PY'
import sys
import numpy as np
from fedguard.update_log import UpdateLogWriter
log, rounds, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
base = rng.standard_normal((n, d), dtype=np.float32) * np.float32(0.01)
center = rng.standard_normal(d, dtype=np.float32) * np.float32(0.01)
base += center
f = n // 10
writer = UpdateLogWriter(log, info={"writer": "bench/forensics/scan_scale.sh"})
ids = [f"c{i}" for i in range(n)]
for r in range(rounds):
    x = np.roll(base, r, axis=0)  # a different client-to-row pairing every round
    x[:f] = -5 * center            # sign-flipped, scaled attackers
    writer.append(r, x, client_ids=ids, malicious=ids[:f])
PY
t1=$(date +%s.%N)
echo "- writing the log: $(awk -v a=$t0 -v b=$t1 -v by=$bytes 'BEGIN {printf "%.1f s, %.0f MB/s", b - a, by / (b - a) / 1e6}')"
fi
sync
evict() { for f in "$log"/*.safetensors; do dd if="$f" iflag=nocache count=0 status=none; done; }
# The disk's sequential read rate on these files, bypassing the page cache.
t0=$(date +%s.%N)
for f in "$log"/*.safetensors; do dd if="$f" of=/dev/null bs=16M iflag=direct status=none; done
t1=$(date +%s.%N)
disk=$(awk -v a=$t0 -v b=$t1 -v by=$bytes 'BEGIN {printf "%.0f", by / (b - a) / 1e6}')
echo "- disk floor (dd iflag=direct over every round file): $disk MB/s"
echo '{"aggregator": {"rule": "multi_krum", "f": '$((n / 10))'}}' > "$log.policy.json"
echo
echo "| scan | wall (s) | MB/s | vs disk | peak RSS (MiB) |"
echo "|---|---:|---:|---:|---:|"
for mode in "--no-layer-scores" ""; do
  out="$log.scan"
  rm -rf "$out"
  evict
  t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$log.rss" build/bin/fedguard scan "$log" --config "$log.policy.json" --out "$out" \
    --progress none $mode > "$log.scan.txt" 2>&1
  t1=$(date +%s.%N)
  rss=$(( $(tail -1 "$log.rss") / 1024 ))
  awk -v a=$t0 -v b=$t1 -v by=$bytes -v disk=$disk -v rss=$rss -v m="multi_krum ${mode:-with layer scores}" \
    'BEGIN {s = b - a; r = by / s / 1e6; printf "| %s | %.1f | %.0f | %.0f%% | %d |\n", m, s, r, 100 * r / disk, rss}'
  grep -E "^policy|^scanned" "$log.scan.txt" | sed 's/^/    /' >&2
done
rm -rf "$log.scan" "$log".*
[ "${KEEP:-0}" = 1 ] || rm -rf "$log"
