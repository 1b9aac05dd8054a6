#!/usr/bin/env bash
# Builds (if needed) and runs the CPU benchmarks, and writes into bench/results/:
#   cpu_<date>.md                      summary: machine, date, commands, measured ratios, goals
#   cpu_<date>_gbench.json / .txt      Google Benchmark output (every repetition)
#   cpu_<date>_gbench_passive.json/.txt  pass 1 and rounds again under OMP_WAIT_POLICY=passive
#   median_vs_numpy_<date>.md / .json  bench/median_vs_numpy.py on the same shapes
#
# Usage: bench/run_cpu_bench.sh            (from anywhere; paths are relative to the repository)
# Environment:
#   BUILD_DIR=build        build directory (configured here if it has no CMakeCache.txt)
#   LARGE=1                also run n=1000 x d=1e6 (4 GB of float32; ~5 GB peak in the benchmark,
#                          ~16 GB in the numpy comparison; adds roughly 15 minutes)
#   REPETITIONS=3          Google Benchmark repetitions; the summary uses the fastest of them
#   QUIET_WAIT=300         seconds to wait, before each phase, for the CPUs to be >= 95% idle
#                          (other jobs on the machine distort the timings; the summary reports
#                          how much CPU other processes used during each phase)
#   PYTHON=python3
#   PASSIVE_FILTER         which benchmarks rerun under OMP_WAIT_POLICY=passive (default BM_(Pass1Scan|Round))
#   OUT_DIR=bench/results  where the files go
#   GBENCH_ARGS / NUMPY_ARGS  extra arguments for fedguard_bench / median_vs_numpy.py (a quick smoke
#                          run: GBENCH_ARGS="--benchmark_filter=n:100/d:100000/" NUMPY_ARGS="--shapes 100x100000"
#                          REPETITIONS=1 OUT_DIR=/tmp/fg_smoke)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build}"
LARGE="${LARGE:-0}"
REPETITIONS="${REPETITIONS:-3}"
QUIET_WAIT="${QUIET_WAIT:-300}"
PYTHON="${PYTHON:-python3}"
PASSIVE_FILTER="${PASSIVE_FILTER:-BM_(Pass1Scan|Round)}"
DATE="$(date -u +%Y-%m-%d)"
RES="${OUT_DIR:-bench/results}"
mkdir -p "$RES"
PREFIX="$RES/cpu_${DATE}"
STATS="$(mktemp)"
trap 'rm -f "$STATS"' EXIT

log() { echo "[run_cpu_bench] $*" >&2; }

# --- build -----------------------------------------------------------------------------------
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  log "configuring $BUILD_DIR"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >&2
fi
log "building fedguard_bench and the CLI in $BUILD_DIR"
cmake --build "$BUILD_DIR" --target fedguard_bench fedguard_cli -j "$(nproc)" >&2
# The source the binaries were built from (the engine changes quickly; results name their commit).
GIT_DESC="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- host include kernels cmake CMakeLists.txt 2>/dev/null || GIT_DESC="$GIT_DESC + uncommitted changes"
BENCH="$BUILD_DIR/bench/fedguard_bench"
CLI="$BUILD_DIR/bin/fedguard"
"$PYTHON" -c 'import numpy' 2>/dev/null || "$PYTHON" -m pip install numpy >&2

# --- helpers: wait for an idle machine; measure other processes' CPU during a phase ----------
busy_jiffies() {  # user nice system idle iowait irq softirq steal: busy = all - idle - iowait
  awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}
wait_quiet() {
  local end=$((SECONDS + QUIET_WAIT)) pct=0
  while :; do
    local a b
    a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
    local tot=0 i
    for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
    pct=$((100 * (b[4] - a[4]) / (tot > 0 ? tot : 1)))
    [ "$pct" -ge 95 ] && { log "machine idle (${pct}%)"; return 0; }
    [ $SECONDS -ge $end ] && { log "machine still busy (${pct}% idle) after ${QUIET_WAIT}s; running anyway"; return 0; }
  done
}
# phase NAME CMD...: runs CMD after wait_quiet; appends "NAME wall_s own_cpu_s other_cpu_s ncpu" to
# $STATS. own = CPU time of CMD and its children (cutime + cstime of a wrapper shell); other = the
# machine's busy time over the phase minus own.
phase() {
  local name="$1"; shift
  wait_quiet
  local hz ncpu b0 b1 t0 t1 own
  hz=$(getconf CLK_TCK); ncpu=$(nproc)
  b0=$(busy_jiffies); t0=$(date +%s.%N)
  { own=$(bash -c '"$@" >&3; awk "{print \$16 + \$17}" /proc/$$/stat' _ "$@"); } 3>&1
  t1=$(date +%s.%N); b1=$(busy_jiffies)
  awk -v n="$name" -v t0="$t0" -v t1="$t1" -v b0="$b0" -v b1="$b1" -v hz="$hz" -v own="$own" -v nc="$ncpu" \
    'BEGIN{w=t1-t0; o=(b1-b0-own)/hz; if(o<0)o=0;
           printf "%s %.1f %.1f %.1f %d\n", n, w, own/hz, o, nc}' >> "$STATS"
}

# --- 1. Google Benchmark -----------------------------------------------------------------------
export FEDGUARD_BENCH_LARGE="$LARGE"
export FEDGUARD_BENCH_QUIET_WAIT="${FEDGUARD_BENCH_QUIET_WAIT:-60}"  # per benchmark, see cpu_bench.cc
GB_ARGS=(--benchmark_repetitions="$REPETITIONS" --benchmark_out_format=json ${GBENCH_ARGS:-})
CMD_GBENCH="FEDGUARD_BENCH_LARGE=$LARGE FEDGUARD_BENCH_QUIET_WAIT=$FEDGUARD_BENCH_QUIET_WAIT $BENCH ${GB_ARGS[*]} --benchmark_out=${PREFIX}_gbench.json"
log "$CMD_GBENCH"
phase gbench bash -c "\"$BENCH\" ${GB_ARGS[*]} --benchmark_out=\"${PREFIX}_gbench.json\" | tee \"${PREFIX}_gbench.txt\""

CMD_PASSIVE="OMP_WAIT_POLICY=passive FEDGUARD_BENCH_LARGE=$LARGE FEDGUARD_BENCH_QUIET_WAIT=$FEDGUARD_BENCH_QUIET_WAIT $BENCH ${GB_ARGS[*]} --benchmark_filter='${PASSIVE_FILTER}' --benchmark_out=${PREFIX}_gbench_passive.json"
log "$CMD_PASSIVE"
phase gbench_passive bash -c "OMP_WAIT_POLICY=passive \"$BENCH\" ${GB_ARGS[*]} --benchmark_filter='${PASSIVE_FILTER}' --benchmark_out=\"${PREFIX}_gbench_passive.json\" | tee \"${PREFIX}_gbench_passive.txt\""

# --- 2. numpy comparison -----------------------------------------------------------------------
NP_ARGS=(--fedguard "$CLI" --out-prefix "$RES/median_vs_numpy_${DATE}" --quiet-wait "$FEDGUARD_BENCH_QUIET_WAIT")
[ "$LARGE" = "1" ] && NP_ARGS+=(--large)
NP_ARGS+=(${NUMPY_ARGS:-})
CMD_NUMPY="$PYTHON bench/median_vs_numpy.py ${NP_ARGS[*]}"
log "$CMD_NUMPY"
phase numpy "$PYTHON" bench/median_vs_numpy.py "${NP_ARGS[@]}" >/dev/null

# --- 3. summary --------------------------------------------------------------------------------
"$PYTHON" - "$PREFIX" "$RES/median_vs_numpy_${DATE}.json" "$STATS" "$CMD_GBENCH" "$CMD_PASSIVE" "$CMD_NUMPY" \
  "$0" "$BUILD_DIR" "$LARGE" "$GIT_DESC" <<'PY'
import json, os, platform, re, subprocess, sys
prefix, np_json, stats_path, cmd_gb, cmd_passive, cmd_np, script, build_dir, large, git_desc = sys.argv[1:11]

def load(path):
    with open(path) as f:
        return json.load(f)

def fastest(path):
    """name (without the repetition suffix) -> the repetition with the smallest real time."""
    out = {}
    for b in load(path)["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].split("/min_time")[0]
        if name not in out or b["real_time"] < out[name]["real_time"]:
            out[name] = b
    return out

gb = load(prefix + "_gbench.json")
ctx = gb["context"]
best = fastest(prefix + "_gbench.json")
passive = fastest(prefix + "_gbench_passive.json") if os.path.exists(prefix + "_gbench_passive.json") else {}
npres = load(np_json)

def get(family, n, d, extra="", table=best):
    key = f"{family}/n:{n}/d:{d}{extra}"
    return table.get(key)

def ms(b):
    return b["real_time"] if b else float("nan")

flagged = []
def t(b):
    """Time in ms, with a dagger when even the fastest repetition ran beside >5% other load."""
    if not b:
        return "n/a"
    load = b.get("other_load_%", 0.0)
    if load > 5:
        flagged.append(f"{b['run_name'].split('/min_time')[0]} ({load:.0f}%)")
        return f"{b['real_time']:.1f} †"
    return f"{b['real_time']:.1f}"

sizes = sorted({(int(b["n"]), int(b["d"]))
                for b in best.values() if b["run_name"].startswith("BM_Pass1Scan") and "f16:0" in b["run_name"]})

cpu = npres["meta"]["cpu"]
stats = [l.split() for l in open(stats_path).read().splitlines() if l.strip()]
L = []
L += [f"# fedguard CPU benchmarks, {ctx['date'][:10]}", ""]
L += ["## Machine and commands", ""]
L += [f"- machine: {cpu.get('model_name')} ({cpu.get('vendor')}, family/model/stepping {cpu.get('family_model_stepping')}), "
      f"{ctx.get('num_cpus')} cores at {ctx.get('mhz_per_cpu')} MHz (as reported), SIMD {', '.join(cpu.get('simd', []))}, "
      f"caches {', '.join(str(c['size']//1024)+' KiB L'+str(c['level'])+('d' if c['type']=='Data' else '' if c['type']=='Unified' else 'i') + ('' if c.get('num_sharing',1)<=1 else ' shared by '+str(c['num_sharing'])) for c in ctx.get('caches', []))}, "
      f"memory {cpu.get('mem_total')}; host `{ctx.get('host_name')}`; {platform.platform()}"]
L += [f"- date: {ctx['date']} (Google Benchmark), {npres['meta']['date_utc']} (numpy comparison)"]
L += [f"- source: commit {git_desc} (at build time)"]
L += [f"- {ctx.get('blas', ctx.get('openblas_config'))}; fedguard {ctx.get('fedguard_version')}, "
      f"build `{build_dir}` ({ctx.get('library_build_type')} libbenchmark; fedguard built with CMAKE_BUILD_TYPE=Release, -O3, no -march); "
      f"numpy {npres['meta']['numpy']}"]
L += [f"- regenerate everything: `{'LARGE=1 ' if large == '1' else ''}BUILD_DIR={build_dir} bench/run_cpu_bench.sh`", "- commands run:"]
L += [f"  - `{cmd_gb}`", f"  - `{cmd_passive}`", f"  - `{cmd_np}`"]
L += ["- timing rules: every benchmark uses wall-clock time; each case ran "
      f"{min(b.get('repetitions', 1) for b in best.values())} repetitions (pass 1 and the floors "
      f"{max(b.get('repetitions', 1) for b in best.values())}) and the tables use the fastest "
      "(least disturbed) one. GB/s = n*d*element size / time (1 GB = 1e9 B); for memcpy the bytes copied. "
      "GFLOP/s = n*n*d / time for every Gram-like benchmark (the useful flops of the symmetric product, "
      "what SSYRK executes; SGEMM really executes 2*n*n*d but is credited n*n*d, so percentages are time ratios)."]
L += ["- other load on the machine (this is a shared 2-core box; CPU seconds used by other processes during each phase, "
      "vs the phase's own CPU seconds):"]
for name, wall, own, other, nc in stats:
    share = 100.0 * float(other) / max(float(wall) * int(nc), 1e-9)
    L += [f"  - {name}: wall {wall} s, own CPU {own} s, other processes {other} s ({share:.0f}% of the machine)"]
L += [""]

# ---- pass 1
L += ["## Pass 1 (scan) vs the OpenBLAS floor on the same tiles", ""]
L += ["Floors: `cblas_sgemm` (X X^T, both triangles) and `cblas_ssyrk` (upper triangle) of the same n x d float32 "
      "matrix, accumulated over column tiles of the width the scan uses (`auto_tile_columns`), read in place; "
      "every core. `% of SGEMM` = SGEMM time / scan time (the scan's useful-Gram rate as a share of SGEMM's).", ""]
L += ["| n | d | tile | scan ms | scan GB/s | scan GFLOP/s | SGEMM ms | SSYRK ms | scan % of SGEMM | scan % of SSYRK |"
      " scan ms, OMP passive | passive % of SGEMM |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
goal_gram = []
for n, d in sizes:
    s = get("BM_Pass1Scan", n, d, "/f16:0")
    g = get("BM_Sgemm_Floor", n, d)
    y = get("BM_Ssyrk_Floor", n, d)
    p = get("BM_Pass1Scan", n, d, "/f16:0", passive)
    pg = 100 * ms(g) / ms(s)
    pp = 100 * ms(g) / ms(p) if p else float("nan")
    goal_gram.append((n, d, pg, pp, 100 * ms(y) / ms(s)))
    tile = str(int(s['tile'])) if int(s['tile']) == int(g['tile']) else f"{int(s['tile'])} (floors {int(g['tile'])})"
    L += [f"| {n} | {d:,} | {tile} | {t(s)} | {s['GB/s']:.2f} | "
          f"{s['GFLOP/s']:.1f} | {t(g)} | {t(y)} | **{pg:.0f}%** | {100*ms(y)/ms(s):.0f}% | "
          f"{t(p)} | {pp:.0f}% |"]
for b in best.values():
    if b["run_name"].startswith("BM_Pass1Scan") and "f16:1" in b["run_name"]:
        n, d = int(b["n"]), int(b["d"])
        s32 = get("BM_Pass1Scan", n, d, "/f16:0")
        L += ["", f"float16 input, n={n}, d={d:,}: scan {t(b)} ms, {b['GB/s']:.2f} GB/s, "
              f"{b['GFLOP/s']:.1f} GFLOP/s (float32: {ms(s32):.1f} ms)."]
L += [""]

# ---- bandwidth
L += ["## Bandwidth: passes vs memcpy", ""]
L += ["`memcpy` copies the n*d*4 bytes with every core (GB/s = bytes copied per second); `read` sums them. "
      "`% of memcpy` = the pass's GB/s / memcpy's GB/s at the same size.", ""]
L += ["| n | d | memcpy GB/s | read GB/s | scan GB/s (% of memcpy) | median GB/s (%) | trimmed mean GB/s (%) | mean GB/s (%) |",
      "|---:|---:|---:|---:|---:|---:|---:|---:|"]
for n, d in sizes:
    mc = get("BM_Memcpy_Floor", n, d)["GB/s"]
    rd = get("BM_Read_Floor", n, d)["GB/s"]
    cells = []
    for fam, extra in (("BM_Pass1Scan", "/f16:0"), ("BM_Median", ""), ("BM_TrimmedMean", ""), ("BM_Mean", "")):
        v = get(fam, n, d, extra)["GB/s"]
        cells.append(f"{v:.2f} ({100*v/mc:.0f}%)")
    L += [f"| {n} | {d:,} | {mc:.1f} | {rd:.1f} | " + " | ".join(cells) + " |"]
L += [""]

# ---- pass 2 times
L += ["## Pass 2 times (CPU backend, all cores)", ""]
L += ["| n | d | median ms | trimmed mean (b=n/10) ms | mean ms |", "|---:|---:|---:|---:|---:|"]
for n, d in sizes:
    L += [f"| {n} | {d:,} | {t(get('BM_Median', n, d))} | {t(get('BM_TrimmedMean', n, d))} | {t(get('BM_Mean', n, d))} |"]
L += [""]

# ---- rounds
L += ["## Whole rounds (Engine::process_round)", ""]
L += ["| n | d | policy | round ms | pass1 ms | decide ms | pass2 ms | round ms, OMP passive |", "|---:|---:|---|---:|---:|---:|---:|---:|"]
for n, d in sizes:
    for pol, label in ((0, "multi_krum f=n/10"), (1, "median")):
        b = get("BM_Round", n, d, f"/policy:{pol}")
        p = get("BM_Round", n, d, f"/policy:{pol}", passive)
        c = b
        L += [f"| {n} | {d:,} | {label} | {t(b)} | {c.get('pass1_scan_ms', float('nan')):.1f} | "
              f"{c.get('decide_ms', float('nan')):.1f} | {c.get('pass2_aggregate_ms', float('nan')):.1f} | {t(p)} |"]
L += [""]

# ---- goals
L += ["## Goals", ""]
L += ["1. **Gram at >= 70% of OpenBLAS SGEMM** (scan time vs SGEMM on the same tiles, default environment):"]
for n, d, pg, pp, py in goal_gram:
    verdict = "met" if pg >= 70 else f"MISSED by {70 - pg:.0f} points"
    L += [f"   - n={n}, d={d:,}: {pg:.0f}% of SGEMM ({py:.0f}% of SSYRK) -> {verdict}; "
          f"with OMP_WAIT_POLICY=passive {pp:.0f}%"]
L += ["2. **Median faster than np.median(X, axis=0)** (same data, same run; fedguard pass2_aggregate, all cores):"]
for r in npres["results"]:
    npm = r["numpy"]["np.median"]["median_ms"]
    fa = r["fedguard"]["median/threads=all"]
    f1 = r["fedguard"]["median/threads=1"]
    nps = r["numpy"]["np.sort median"]["median_ms"]
    verdict = "met" if fa["pass2_aggregate_ms"] < npm else "MISSED"
    L += [f"   - n={r['n']}, d={r['d']:,}: np.median {npm:.0f} ms, fedguard {fa['pass2_aggregate_ms']:.0f} ms -> "
          f"{npm/fa['pass2_aggregate_ms']:.2f}x ({verdict}); one core {npm/f1['pass2_aggregate_ms']:.2f}x; "
          f"vs numpy's sort-based median ({nps:.0f} ms) {nps/fa['pass2_aggregate_ms']:.2f}x; "
          f"including pass 1 (`total`, {fa['total_ms']:.0f} ms) {npm/fa['total_ms']:.2f}x"]
L += [""]
L += ["† = even the fastest repetition ran while other processes used more than 5% of the machine "
      "(the time is then an upper bound): " + (", ".join(sorted(set(flagged))) if flagged else "none") + "."]
L += ["(`other_load_%` in the JSON has the 10 ms tick resolution of /proc/stat: a few % on short runs is noise.)", ""]
L += ["## numpy comparison (bench/median_vs_numpy.py)", ""]
with open(np_json[:-5] + ".md") as f:
    body = f.read().split("\n", 1)[1]  # drop its title
L += [body.replace("\n## ", "\n### ")]
with open(prefix + ".md", "w") as f:
    f.write("\n".join(L) + "\n")
print(prefix + ".md")
PY
log "done: ${PREFIX}.md"
