#!/usr/bin/env bash
# The BLAS libraries fedguard builds against (FEDGUARD_BLAS, issue 19), measured in one block:
#   bench/blas_compare.sh OUT_DIR BUILD_DIR...
# Each BUILD_DIR is a build with -DFEDGUARD_BUILD_BENCH=ON (targets fedguard_cli,
# fedguard_pass_cpu_time, fedguard_bench). For each build, with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset (as users have it) and, for OpenBLAS builds, again with
# OPENBLAS_CORETYPE=Haswell:
#   - `fedguard info`'s BLAS line (library, version, kernel, file);
#   - one thread, the thread's CPU time (fedguard_pass_cpu_time, REPEATS runs): the bare SSYRK of
#     pass 1's Gram over the scan's column tiles ("syrk") and pass 1 with the Gram ("scan-gram");
#   - every core, wall clock (fedguard_bench, Google Benchmark, 5 repetitions): the SSYRK floor,
#     pass 1, and a Multi-Krum round through the engine.
# Shapes: n x d = 100 x 1e6 and 1000 x 1e5. Then numpy's X @ X.T at the same shapes in both
# environments (one thread in thread CPU time, every thread in wall time) as the reference.
# Writes OUT_DIR/log.txt (everything as run), OUT_DIR/*.json (Google Benchmark) and prints a
# markdown summary (OUT_DIR/summary.md). Needs a quiet machine: it reads `uptime` before and after.
set -euo pipefail
out=$1
shift
mkdir -p "$out"
repeats=${REPEATS:-7}
shapes=("100 1000000" "1000 100000")
log=$out/log.txt
: >"$log"
# The environment as users have it: none of the variables that pick or size OpenBLAS's kernel or
# threads (OMP_NUM_THREADS unset too: every core for the both-core runs).
clean=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS
       -u MKL_NUM_THREADS -u MKL_ENABLE_INSTRUCTIONS -u BLIS_NUM_THREADS -u BLIS_ARCH_TYPE)
echo "# start $(date -u +%FT%TZ); uptime: $(uptime)" | tee -a "$log"

run_build() {  # BUILD_DIR TAG ENV...
  local build=$1 tag=$2
  shift 2
  echo "## build=$build env=$tag" | tee -a "$log"
  "${clean[@]}" "$@" "$build/bin/fedguard" info | grep '^BLAS:' | tee -a "$log"
  for shape in "${shapes[@]}"; do
    for what in syrk scan-gram; do
      # shellcheck disable=SC2086
      "${clean[@]}" "$@" "$build/bench/fedguard_pass_cpu_time" $shape "$repeats" $what | tee -a "$log"
    done
  done
  "${clean[@]}" "$@" "$build/bench/fedguard_bench" \
    --benchmark_filter='^BM_(Ssyrk_Floor/n:(100/d:1000000|1000/d:100000)|Pass1Scan/n:(100/d:1000000|1000/d:100000)/f16:0|Round/n:(100/d:1000000|1000/d:100000)/policy:0)/' \
    --benchmark_repetitions=5 --benchmark_out="$out/bench_$(basename "$build")_$tag.json" \
    --benchmark_out_format=json >/dev/null 2>>"$log"
  echo "bench json: $out/bench_$(basename "$build")_$tag.json" | tee -a "$log"
}

numpy_ref() {  # TAG ENV...
  local tag=$1
  shift
  echo "## numpy env=$tag" | tee -a "$log"
  "${clean[@]}" "$@" python3 - "$repeats" <<'EOF' | tee -a "$log"
import sys, time, statistics
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits
repeats = int(sys.argv[1])
blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
print("numpy", np.__version__, "BLAS:", "; ".join(f"{p['internal_api']} {p['version']} kernel {p.get('architecture')} "
      f"threads {p['num_threads']} ({p['filepath']})" for p in blas))
rng = np.random.default_rng(1)
for n, d in ((100, 1_000_000), (1000, 100_000)):
    x = rng.standard_normal((n, d), dtype=np.float32)
    def timed(clock, threads):
        ts = []
        with threadpool_limits(threads, user_api="blas"):
            for _ in range(repeats):
                t0 = clock(); g = x @ x.T; ts.append(clock() - t0)
        return ts
    for label, clock, threads in (("1 thread, thread CPU", time.thread_time, 1),
                                  ("all threads, wall", time.perf_counter, None)):
        ts = [t * 1e3 for t in timed(clock, threads)]
        print(f"numpy X@X.T n={n} d={d} {label}: min {min(ts):.2f} median {statistics.median(ts):.2f} "
              f"max {max(ts):.2f} ms (of {repeats})")
EOF
}

for build in "$@"; do
  run_build "$build" unset
done
for build in "$@"; do
  if "${clean[@]}" "$build/bin/fedguard" info | grep -q '^BLAS: OpenBLAS'; then
    run_build "$build" Haswell OPENBLAS_CORETYPE=Haswell
  fi
done
numpy_ref unset
numpy_ref Haswell OPENBLAS_CORETYPE=Haswell
echo "# end $(date -u +%FT%TZ); uptime: $(uptime)" | tee -a "$log"

# Summary: one row per build and environment.
python3 - "$out" <<'EOF' | tee "$out/summary.md"
import json, re, sys, pathlib, statistics
out = pathlib.Path(sys.argv[1])
rows, cur = [], None
for line in (out / "log.txt").read_text().splitlines():
    if m := re.match(r"## build=(\S+) env=(\S+)", line):
        cur = {"build": pathlib.Path(m[1]).name, "env": m[2]}
        rows.append(cur)
    elif cur and line.startswith("BLAS:"):
        cur["blas"] = line[6:]
    elif cur and (m := re.match(r"(syrk|scan-gram) n=(\d+) d=(\d+): ([\d.]+) ms CPU \(min of \d+; median ([\d.]+), max ([\d.]+)", line)):
        cur[(m[1], m[2])] = (float(m[5]), float(m[4]), float(m[6]))
    elif cur and line.startswith("bench json: "):
        data = json.loads(pathlib.Path(line[12:]).read_text())
        runs = {}
        for b in data["benchmarks"]:
            if b.get("run_type") == "iteration":
                runs.setdefault(b["run_name"], []).append(b["real_time"])
        for name, ts in runs.items():
            kind = name.split("/")[0][3:]
            n = re.search(r"n:(\d+)", name)[1]
            cur[(kind, n)] = (statistics.median(ts), min(ts), max(ts))
def cell(r, key):
    if key not in r: return "-"
    med, lo, hi = r[key]
    return f"{med:.0f} ({lo:.0f}-{hi:.0f})"
cols = [("syrk", "100"), ("scan-gram", "100"), ("syrk", "1000"), ("scan-gram", "1000"),
        ("Ssyrk_Floor", "100"), ("Pass1Scan", "100"), ("Round", "100"), ("Ssyrk_Floor", "1000"), ("Pass1Scan", "1000"), ("Round", "1000")]
print("| build | env | kernel | " + " | ".join(f"{k} {'100x1e6' if n == '100' else '1000x1e5'}" for k, n in cols) + " |")
print("| --- | --- | --- | " + " | ".join("--:" for _ in cols) + " |")
for r in rows:
    kernel = re.search(r"kernel ([^,]+)", r.get("blas", "")); kernel = kernel[1] if kernel else "?"
    print(f"| {r['build']} | {r['env']} | {kernel} | " + " | ".join(cell(r, c) for c in cols) + " |")
EOF
