#!/usr/bin/env python3
"""fedguard's coordinate-wise median and trimmed mean against numpy, on the same data, in one run.

For each shape (n clients x d parameters, float32, standard normal) the script
  1. generates the matrix once and saves it to a temporary .npy;
  2. times numpy on the in-memory array: np.median(X, axis=0) (the baseline the goal names),
     a sort-based median (np.sort(X, axis=0) and the middle row(s)) and a sort-based trimmed mean
     (np.sort, drop b = n // 10 rows at each end, mean in float64): one warm-up call, then the
     median of --repeats timed calls;
  3. times `fedguard round --updates U.npy --config C.json --aggregate-out A.npy` on the same
     file, with the rule "median" and "trimmed_mean" (trim = n // 10), using every core and one
     core ("threads": 1): one warm-up call (page cache), then the median over --repeats calls of
     the engine's own timings_ms.pass2_aggregate (the aggregation alone: no process start, no
     file mapping, no pass 1), of timings_ms.total (pass 1 + policy + pass 2) and of the wall time
     of the whole CLI process;
  4. checks that fedguard's aggregate agrees with numpy's (max |difference|).
numpy runs on one core (its median, sort and mean are single-threaded); fedguard is reported both
with all cores and with one, so the per-core comparison is visible too.

Writes <out-prefix>.md (a table) and <out-prefix>.json (every measurement) and prints the table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

DEFAULT_SHAPES = "100x100000,100x1000000,1000x100000"
LARGE_SHAPE = "1000x1000000"


def cpu_description() -> dict:
    info: dict = {"model_name": platform.processor() or "unknown"}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        first = text.split("\n\n")[0]
        fields = {}
        for line in first.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        info["model_name"] = fields.get("model name", info["model_name"])
        info["vendor"] = fields.get("vendor_id", "")
        info["family_model_stepping"] = "{}/{}/{}".format(
            fields.get("cpu family", "?"), fields.get("model", "?"), fields.get("stepping", "?"))
        flags = set(fields.get("flags", "").split())
        info["simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16") if f in flags]
        info["logical_cpus_in_cpuinfo"] = text.count("processor\t:")
    except OSError:
        pass
    info["os_cpu_count"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["mem_total"] = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return info


def _busy_seconds() -> float:
    """Busy CPU time of the whole machine (user nice system irq softirq steal), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadWindow:
    """Share of the machine that *other* processes used while the window was open (0..1)."""

    def __init__(self):
        self.busy, self.own, self.wall = _busy_seconds(), _own_seconds(), time.perf_counter()

    def other_share(self) -> float:
        wall = time.perf_counter() - self.wall
        other = (_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        return min(max(other / max(wall * (os.cpu_count() or 1), 1e-9), 0.0), 1.0)


def wait_quiet(limit_s: float) -> None:
    """Waits (up to limit_s) until other processes use less than 5% of the machine."""
    end = time.perf_counter() + limit_s
    while limit_s > 0:
        w = LoadWindow()
        time.sleep(0.5)
        if w.other_share() < 0.05 or time.perf_counter() > end:
            return


def timed(fn, repeats: int):
    """One warm-up call, then `repeats` timed calls; returns (times_ms, last result)."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times, result


def run_cli(fedguard: str, updates: str, config: str, aggregate_out: str) -> tuple[float, dict]:
    cmd = [fedguard, "round", "--updates", updates, "--config", config, "--aggregate-out", aggregate_out]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = (time.perf_counter() - t0) * 1e3
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return wall, json.loads(proc.stdout)["timings_ms"]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def parse_shapes(text: str):
    shapes = []
    for item in text.split(","):
        n, d = item.lower().split("x")
        shapes.append((int(float(n)), int(float(d))))
    return shapes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fedguard", default="build/bin/fedguard", help="the fedguard CLI binary")
    ap.add_argument("--shapes", default=DEFAULT_SHAPES, help="comma-separated NxD (default: %(default)s)")
    ap.add_argument("--large", action="store_true", help=f"also run {LARGE_SHAPE} (4 GB; ~16 GB peak memory)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (after one warm-up)")
    ap.add_argument("--large-repeats", type=int, default=2, help="repeats for shapes of more than 1e8 elements")
    ap.add_argument("--out-prefix", default=None, help="write <prefix>.md and <prefix>.json")
    ap.add_argument("--tmpdir", default=None, help="where the temporary .npy files go (default: system temp)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each measurement, wait up to this many seconds for the machine to be idle")
    args = ap.parse_args()

    if not os.access(args.fedguard, os.X_OK):
        sys.exit(f"{args.fedguard}: not an executable (build it first: cmake -S . -B build && make -C build -j2)")
    shapes = parse_shapes(args.shapes) + ([parse_shapes(LARGE_SHAPE)[0]] if args.large else [])
    command = shlex.join([sys.executable] + sys.argv)
    meta = {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "host": platform.node(),
        "cpu": cpu_description(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "fedguard": "fedguard " + subprocess.run([args.fedguard, "--version"], stdout=subprocess.PIPE,
                                                 text=True).stdout.strip(),
        "command": command,
        "repeats": args.repeats,
        "large_repeats": args.large_repeats,
        "notes": "numpy single-threaded; fedguard threads 'all' = every core (config threads 0), '1' = one core",
    }
    rows = []
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="fedguard_median_", dir=args.tmpdir) as tmp:
        for n, d in shapes:
            reps = args.repeats if n * d <= 100_000_000 else args.large_repeats
            b = n // 10
            print(f"[{n} x {d}] generating {n * d * 4 / 1e9:.2f} GB ...", file=sys.stderr, flush=True)
            X = rng.standard_normal((n, d), dtype=np.float32)
            upd = os.path.join(tmp, f"U_{n}_{d}.npy")
            np.save(upd, X)
            lo, hi = (n - 1) // 2, n // 2

            def np_median():
                return np.median(X, axis=0)

            def np_sort_median():
                s = np.sort(X, axis=0)
                return (s[lo] + s[hi]) * np.float32(0.5) if lo != hi else s[lo]

            def np_sort_trimmed():
                s = np.sort(X, axis=0)
                return s[b:n - b].mean(axis=0, dtype=np.float64).astype(np.float32)

            ref = {}
            numpy_ms = {}
            for name, fn in (("np.median", np_median), ("np.sort median", np_sort_median),
                             ("np.sort trimmed mean", np_sort_trimmed)):
                print(f"[{n} x {d}] numpy {name} ...", file=sys.stderr, flush=True)
                wait_quiet(args.quiet_wait)
                window = LoadWindow()
                times, out = timed(fn, reps)
                numpy_ms[name] = {"median_ms": median(times), "min_ms": min(times), "all_ms": times,
                                  "other_load_pct": 100 * window.other_share()}
                ref[name] = np.asarray(out, dtype=np.float32)

            fedguard_runs = {}
            for rule, cfg, ref_name in (("median", {"rule": "median"}, "np.median"),
                                        ("trimmed_mean", {"rule": "trimmed_mean", "trim": b}, "np.sort trimmed mean")):
                for threads in (0, 1):
                    label = f"{rule}/threads={'all' if threads == 0 else threads}"
                    conf = os.path.join(tmp, f"C_{rule}_{threads}.json")
                    with open(conf, "w") as f:
                        json.dump({"backend": "cpu", "threads": threads, "aggregator": cfg}, f)
                    agg = os.path.join(tmp, f"A_{rule}_{threads}.npy")
                    print(f"[{n} x {d}] fedguard {label} ...", file=sys.stderr, flush=True)
                    wait_quiet(args.quiet_wait)
                    window = LoadWindow()
                    run_cli(args.fedguard, upd, conf, agg)  # warm-up: page cache, first touch
                    walls, pass2, pass1, total = [], [], [], []
                    for _ in range(reps):
                        wall, t = run_cli(args.fedguard, upd, conf, agg)
                        walls.append(wall)
                        pass2.append(t["pass2_aggregate"])
                        pass1.append(t["pass1_scan"])
                        total.append(t["total"])
                    A = np.load(agg)
                    diff = float(np.max(np.abs(A.astype(np.float64) - ref[ref_name].astype(np.float64))))
                    fedguard_runs[label] = {
                        "pass2_aggregate_ms": median(pass2), "pass2_aggregate_min_ms": min(pass2),
                        "pass1_scan_ms": median(pass1), "total_ms": median(total), "cli_wall_ms": median(walls),
                        "all_pass2_ms": pass2, "all_total_ms": total, "all_wall_ms": walls,
                        "max_abs_diff_vs": ref_name, "max_abs_diff": diff,
                        "other_load_pct": 100 * window.other_share(),
                    }
            rows.append({"n": n, "d": d, "trim": b, "repeats": reps, "numpy": numpy_ms, "fedguard": fedguard_runs})
            del X, ref
            os.remove(upd)

    md = render_markdown(meta, rows)
    print(md)
    if args.out_prefix:
        os.makedirs(os.path.dirname(os.path.abspath(args.out_prefix)), exist_ok=True)
        with open(args.out_prefix + ".md", "w") as f:
            f.write(md)
        with open(args.out_prefix + ".json", "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=2)
    return 0


def fmt(ms: float) -> str:
    return f"{ms:,.1f}" if ms < 100 else f"{ms:,.0f}"


def load(row: dict, which: str) -> str:
    """Largest other-process load over the row's measurements of one table."""
    vals = [v["other_load_pct"] for k, v in row["numpy"].items() if ("trimmed" in k) == (which == "trimmed")]
    vals += [v["other_load_pct"] for k, v in row["fedguard"].items() if k.startswith(which)]
    return f"{max(vals):.0f}%"


def render_markdown(meta: dict, rows: list) -> str:
    cpu = meta["cpu"]
    out = [
        "# fedguard vs numpy: coordinate-wise median and trimmed mean (CPU)",
        "",
        f"- date: {meta['date_utc']}",
        f"- CPU: {cpu.get('model_name')} (vendor {cpu.get('vendor', '?')}, family/model/stepping "
        f"{cpu.get('family_model_stepping', '?')}), {cpu.get('usable_cpus', cpu.get('os_cpu_count'))} usable cores, "
        f"SIMD {', '.join(cpu.get('simd', []))}, memory {cpu.get('mem_total', '?')}",
        f"- numpy {meta['numpy']} (Python {meta['python']}), {meta['fedguard']}",
        f"- command: `{meta['command']}`",
        f"- each time: median of {meta['repeats']} runs after one warm-up "
        f"({meta['large_repeats']} for shapes above 1e8 elements); float32 standard-normal data, the same array "
        "for numpy (in memory) and fedguard (the .npy it was saved to)",
        "- fedguard time = the engine's `timings_ms.pass2_aggregate` (aggregation only). `total` adds pass 1 "
        "(the scan every round does) and the policy; `CLI wall` is the whole process (start, mmap, both "
        "passes, writing the aggregate).",
        "- numpy is single-threaded; fedguard is shown on all cores and on one (`threads: 1`).",
        "- `other load`: the largest share of the machine that other processes used during any of the row's "
        "measurements (0% = undisturbed).",
        "",
        "## Median",
        "",
        "| n | d | np.median ms | np.sort median ms | fedguard pass2 ms (all cores) | speedup vs np.median |"
        " fedguard pass2 ms (1 core) | speedup vs np.median (1 core) | vs np.sort median (all cores) |"
        " fedguard total ms | CLI wall ms | max abs diff | other load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        npm = r["numpy"]["np.median"]["median_ms"]
        nps = r["numpy"]["np.sort median"]["median_ms"]
        fa = r["fedguard"]["median/threads=all"]
        f1 = r["fedguard"]["median/threads=1"]
        out.append(
            f"| {r['n']} | {r['d']:,} | {fmt(npm)} | {fmt(nps)} | {fmt(fa['pass2_aggregate_ms'])} | "
            f"**{npm / fa['pass2_aggregate_ms']:.2f}x** | {fmt(f1['pass2_aggregate_ms'])} | "
            f"{npm / f1['pass2_aggregate_ms']:.2f}x | {nps / fa['pass2_aggregate_ms']:.2f}x | "
            f"{fmt(fa['total_ms'])} | {fmt(fa['cli_wall_ms'])} | {fa['max_abs_diff']:.2g} | {load(r, 'median')} |")
    out += [
        "",
        "Speedup > 1: fedguard is faster. `vs np.sort median` compares with the faster numpy spelling of the "
        "same median.",
        "",
        "## Trimmed mean (b = n/10 trimmed at each end)",
        "",
        "| n | d | b | np.sort trimmed mean ms | fedguard pass2 ms (all cores) | speedup |"
        " fedguard pass2 ms (1 core) | speedup (1 core) | fedguard total ms | CLI wall ms | max abs diff | other load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        npt = r["numpy"]["np.sort trimmed mean"]["median_ms"]
        fa = r["fedguard"]["trimmed_mean/threads=all"]
        f1 = r["fedguard"]["trimmed_mean/threads=1"]
        out.append(
            f"| {r['n']} | {r['d']:,} | {r['trim']} | {fmt(npt)} | {fmt(fa['pass2_aggregate_ms'])} | "
            f"**{npt / fa['pass2_aggregate_ms']:.2f}x** | {fmt(f1['pass2_aggregate_ms'])} | "
            f"{npt / f1['pass2_aggregate_ms']:.2f}x | {fmt(fa['total_ms'])} | {fmt(fa['cli_wall_ms'])} | "
            f"{fa['max_abs_diff']:.2g} | {load(r, 'trimmed')} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
