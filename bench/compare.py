#!/usr/bin/env python3
"""fedguard against the aggregators a user would pick instead, and against the machine's floors.

For every cell of a grid (n clients x d parameters, rule) the script times, in one process and
one run:
  - fedguard on the CPU (float32 and float16 input) and, where the build and the machine have
    one, on the GPU (input resident in device memory, and streamed from host memory);
  - byzfl 0.0.11's aggregators on numpy and torch input (CPU, and CUDA where present);
  - Flower 1.42's aggregation functions (flwr.server.strategy.aggregate: aggregate_krum,
    aggregate_bulyan, aggregate_median, aggregate_trimmed_avg);
  - idiomatic PyTorch (X @ X.T distances, torch.median, sort-based trimmed mean, Weiszfeld,
    torch.linalg.eigh on the Gram) on the CPU and the GPU;
  - the floors on the same n x d float32 matrix: memory copy (numpy copyto; device-to-device on
    the GPU), GEMM X @ X.T (numpy and torch), the n x n eigh, host-to-device copy (GPU).
The parameter mapping between the libraries (each computes the same function) is in
bench/compare_peers.py.

Timing: every implementation of a cell runs once as warm-up, then the repeats are interleaved
(round r runs every implementation once, the order rotated each round), with a short pause
before each call so that thread pools of the previous implementation stop spinning. Reported:
the median of the repeats and their spread. A peer whose predicted time (from the smaller cells
already measured, with its n^2 d or n d model) exceeds --limit-s, or whose warm-up run did, is
not repeated; one that would not fit in the free memory is skipped; both are listed with the
reason. Every result is checked against fedguard's (relative L2 difference).
--isolated times each implementation's repeats in a block of its own instead: on the 2-core VMs
interleaving let a peer ride on cores its neighbours had just kept awake (torch's Krum at
100 x 1e4: 2.4 ms interleaved, 13.7 ms alone after the same 50 ms pauses; 2026-12-05), while a
server calls its aggregator after an idle pause, alone.

Outputs (in --out-dir, prefix compare_<device>_<date>): .md (tables, ratios, goals), .json
(every measurement, the machine, the load, the command), _vs_n.png and _vs_d.png (log-log time
curves). `--scaling` instead times fedguard alone along an n sweep and a d sweep and fits the
n^2 d and n d cost models (scaling_<device>_<date>.*).

Regenerate the CPU comparison of docs/performance.md:
    PYTHONPATH=build-compare/python python3 bench/compare.py
and the scaling curves:
    PYTHONPATH=build-compare/python python3 bench/compare.py --scaling
A smoke run on tiny sizes (CI, tests/python/test_bench_compare.py): --quick --out-dir /tmp/x.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import compare_peers as peers  # noqa: E402

FULL_N = (10, 100, 1000)
FULL_D = (10_000, 100_000, 1_000_000)
QUICK_N = (10, 20)
QUICK_D = (1_000, 2_000)
GOAL_RULES = ("krum", "multi_krum", "median", "trimmed_mean")
GOAL_SHAPE = (100, 1_000_000)
GOAL_SPEEDUP = 10.0


# ----------------------------------------------------------------------------------------------
# machine and load


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info(fedguard_path: str | None) -> dict:
    """Which BLAS and kernel fedguard and numpy run, and the environment that picks the kernel
    (issue 19: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE change OpenBLAS's kernel choice)."""
    info = {"env": {k: os.environ.get(k, "(unset)") for k in
                    ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                     "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}}
    cands = [Path(fedguard_path) / ".." / "bin" / "fedguard"] if fedguard_path else []
    cands.append(ROOT / "build" / "bin" / "fedguard")
    for cli in cands:
        if cli.exists():
            try:
                out = subprocess.run([str(cli), "info"], capture_output=True, text=True, timeout=30).stdout
                info["fedguard"] = next((l.split("BLAS:", 1)[1].strip() for l in out.splitlines() if "BLAS:" in l), "?")
                gram = next((l.split("pass-1 Gram:", 1)[1].strip() for l in out.splitlines() if "pass-1 Gram:" in l), None)
                if gram:  # since 2026-12-05: the Gram is not the BLAS's alone (tile_gram.cc)
                    info["fedguard"] += f"; pass-1 Gram: {gram}"
                info["fedguard_cli"] = str(cli.resolve())
            except (OSError, subprocess.SubprocessError) as e:
                info["fedguard"] = f"unknown ({e})"
            break
    # The kernel this process runs (since 2026-12-06 the command line may restart itself with
    # another one: README, "The BLAS kernel"), where the module says it.
    try:
        import fedguard
        if hasattr(fedguard, "blas_info"):
            own = fedguard.blas_info()
            gram = info.get("fedguard", "").partition("; pass-1 Gram: ")[2]
            info["fedguard"] = own["description"] + (f"; pass-1 Gram: {gram}" if gram else "")
            if own["better_kernel"]:
                info["fedguard"] += f"; below this processor: OPENBLAS_CORETYPE={own['better_kernel']} would run better"
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info  # numpy's BLAS and its kernel, where installed
        info["loaded"] = "; ".join(f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture')}"
                                  for p in threadpool_info() if p.get("user_api") == "blas")
    except ImportError:
        info["loaded"] = "numpy: " + str(np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {}).get("name", "?"))
    return info


def mem_available_bytes() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def mem_total_bytes() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _busy_seconds() -> float:
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadWindow:
    """CPU share of the whole machine used by *other* processes while the window was open."""

    def __init__(self):
        self.busy, self.own, self.t = _busy_seconds(), _own_seconds(), time.perf_counter()

    def other_share(self) -> float:
        wall = time.perf_counter() - self.t
        other = (_busy_seconds() - self.busy) - (_own_seconds() - self.own)
        return min(max(other / max(wall * (os.cpu_count() or 1), 1e-9), 0.0), 1.0)


def uptime_text() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def gpu_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return ""


def git_commit() -> str:
    try:
        c = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "host", "include",
                                "kernels", "python_bindings"], timeout=10).returncode != 0
        return c + (" + uncommitted changes in the engine" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ----------------------------------------------------------------------------------------------
# measurement


def fmt_ms(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def to_numpy(out) -> np.ndarray | None:
    if out is None:
        return None
    if isinstance(out, (list, tuple)):
        out = out[0]
    if hasattr(out, "detach"):
        out = out.detach().float().cpu().numpy()
    return np.asarray(out, dtype=np.float64).ravel()


def rel_diff(a, b) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    den = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / (den if den > 0 else 1.0)


class Runner:
    def __init__(self, args, ref_name="fedguard cpu"):
        self.args = args
        self.ref_name = ref_name
        self.waited_total = 0.0
        self.history: dict = {}  # (impl name, rule) -> list of (n, d, seconds)
        self.records: list = []
        self.floor_records: list = []

    # ---- prediction and memory

    def predict(self, impl, rule, n, d) -> float | None:
        pts = self.history.get((impl.name, rule))
        if not pts:
            return None
        n0, d0, t0 = max(pts, key=lambda p: p[0] * p[1])
        return t0 * (n / n0) ** impl.power(rule) * (d / d0)

    def fits(self, factor: float, nbytes: int) -> bool:
        need = factor * nbytes
        return need <= mem_available_bytes() - self.args.mem_margin_gb * (1 << 30)

    # ---- one cell: all implementations of one rule on one matrix, interleaved

    def wait_quiet(self) -> float:
        """Waits (up to --quiet-wait s) until other processes use less than --quiet-share of the
        machine over half a second; returns the seconds waited."""
        a, t0 = self.args, time.perf_counter()
        limit = min(a.quiet_wait, max(0.0, a.quiet_budget_s - self.waited_total))
        while time.perf_counter() - t0 < limit:
            w = LoadWindow()
            time.sleep(0.5)
            if w.other_share() < a.quiet_share:
                break
        waited = time.perf_counter() - t0
        self.waited_total += waited
        return waited

    def run_rule(self, cell, rule, impls):
        a = self.args
        n, d = cell.n, cell.d
        live, recs = [], []
        waited = self.wait_quiet()
        load0, win = os.getloadavg(), LoadWindow()
        for impl in impls:
            rec = dict(n=n, d=d, rule=rule, impl=impl.name, family=impl.family, device=impl.device,
                       dtype=impl.dtype, status="ok", reason="", times_ms=[], version=impl.version)
            recs.append(rec)
            pred = self.predict(impl, rule, n, d)
            if pred is not None and pred > a.limit_s and impl.family != "fedguard":
                rec.update(status="skipped", predicted_s=pred,
                           reason=f"predicted {pred:.0f} s > {a.limit_s:.0f} s (from its smaller cells)")
                continue
            if not self.fits(impl.mem_factor, cell.x.nbytes):
                rec.update(status="skipped", reason="needs about %.1f GB more than the free memory allows"
                           % (impl.mem_factor * cell.x.nbytes / 1e9))
                continue
            try:
                fn = impl.prepare(cell, rule)
                time.sleep(a.gap_ms / 1e3)
                t0 = time.perf_counter()
                out = fn()
                warm = time.perf_counter() - t0
            except Exception as e:  # noqa: BLE001 - a peer's failure is a result, not a crash
                rec.update(status="error", reason=f"{type(e).__name__}: {str(e).splitlines()[0][:160]}")
                gc.collect()
                continue
            rec["warmup_ms"] = warm * 1e3
            rec["_out"] = to_numpy(out)
            del out
            self.history.setdefault((impl.name, rule), []).append((n, d, warm))
            if warm > a.limit_s:
                rec.update(status="over_limit", times_ms=[warm * 1e3],
                           reason=f"one run took {warm:.0f} s > {a.limit_s:.0f} s: not repeated (time = that run)")
                continue
            reps = min(a.repeats, max(1, int(a.cell_budget_s / max(warm, 1e-9))))
            live.append((impl, fn, rec, reps))
        # interleaved repeats (--isolated: each implementation's repeats in a block of its own)
        max_reps = max((r for *_, r in live), default=0)
        if a.isolated:
            schedule = [(entry, r) for entry in live for r in range(entry[3])]
        else:
            schedule = [(entry, r) for r in range(max_reps)
                        for entry in (live[r % len(live):] + live[:r % len(live)] if live else [])]
        for (impl, fn, rec, reps), r in schedule:
            if r >= reps:
                continue
            time.sleep(a.gap_ms / 1e3)
            t0 = time.perf_counter()
            out = fn()
            rec["times_ms"].append((time.perf_counter() - t0) * 1e3)
            del out
            if impl.family == "fedguard" and hasattr(impl, "last_timings"):
                rec["fedguard_timings_ms"] = dict(impl.last_timings)
        share = win.other_share()
        load1 = os.getloadavg()
        ref = next((r.get("_out") for r in recs if r["impl"] == self.ref_name and r["status"] == "ok"), None)
        for rec in recs:
            t = rec["times_ms"]
            if t:
                rec.update(median_ms=statistics.median(t), min_ms=min(t), max_ms=max(t), reps=len(t))
            rec["other_load_share"] = share
            rec["quiet_wait_s"] = waited
            rec["loadavg_before"], rec["loadavg_after"] = list(load0), list(load1)
            out = rec.pop("_out", None)
            rec["rel_diff_vs_reference"] = rel_diff(out, ref) if rec["impl"] != self.ref_name else 0.0
        del live
        gc.collect()
        self.records += recs
        return recs

    def run_floors(self, cell, floors):
        a = self.args
        win, load0 = LoadWindow(), os.getloadavg()
        for fl in floors:
            rec = dict(n=cell.n, d=cell.d, floor=fl.name, kind=fl.kind, device=fl.device, times_ms=[], status="ok")
            if not self.fits(fl.mem_factor, cell.x.nbytes):
                rec.update(status="skipped", reason="memory")
                self.floor_records.append(rec)
                continue
            try:
                fn = fl.make(cell)
                fn()
                reps = max(a.repeats, 3)
                for _ in range(reps):
                    time.sleep(a.gap_ms / 1e3)
                    t0 = time.perf_counter()
                    fn()
                    rec["times_ms"].append((time.perf_counter() - t0) * 1e3)
                del fn
            except Exception as e:  # noqa: BLE001
                rec.update(status="error", reason=f"{type(e).__name__}: {e}"[:200])
            t = rec["times_ms"]
            if t:
                med = statistics.median(t)
                rec.update(median_ms=med, min_ms=min(t), max_ms=max(t), reps=len(t))
                if fl.bytes_moved:
                    rec["GB_per_s"] = fl.bytes_moved(cell) / (min(t) * 1e-3) / 1e9
                if fl.kind == "gemm":
                    rec["GFLOP_per_s"] = 2.0 * cell.n * cell.n * cell.d / (min(t) * 1e-3) / 1e9
            rec["other_load_share"] = win.other_share()
            rec["loadavg_before"], rec["loadavg_after"] = list(load0), list(os.getloadavg())
            self.floor_records.append(rec)
            gc.collect()


# ----------------------------------------------------------------------------------------------
# reports


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def floor_of(floor_records, n, d, kind, device):
    ts = [r["median_ms"] for r in floor_records
          if r["n"] == n and r["d"] == d and r["kind"] == kind and r["device"] == device and r.get("median_ms")]
    return min(ts) if ts else None


def write_markdown(path, meta, records, floor_records, missing, args):
    ref = meta["reference"] or "fedguard cpu"
    ref_dev = "cuda" if "cuda" in ref else "cpu"
    L = []
    L += [f"# fedguard against peers and floors: {meta['device']}, {meta['date_utc'][:10]}", ""]
    L += ["Generated by `bench/compare.py` (do not edit by hand; the notes on these numbers are in "
          "docs/performance.md).", ""]
    L += ["## Machine, command, load", ""]
    L += [f"- device: {meta['device']}; CPU {meta['cpu']}, nproc {meta['nproc']}, memory {meta['mem_total_gb']:.1f} GB"]
    L += [f"- date: {meta['date_utc']}"]
    L += [f"- BLAS: fedguard {meta['blas'].get('fedguard', '?')}; all BLAS in the process {meta['blas'].get('loaded', '?')}; environment "
          + ", ".join(f"{k}={v}" for k, v in meta["blas"]["env"].items())]
    L += [f"- command: `{meta['command']}`"]
    L += [f"- source: commit {meta['git']}; " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())]
    L += [f"- load: `uptime` at start `{meta['uptime_start']}`; at end `{meta['uptime_end']}`; "
          f"other processes used on average {100 * meta['other_load_mean']:.0f}% of the machine during the "
          f"measurements (largest per cell {100 * meta['other_load_max']:.0f}%; per cell in the JSON); before each "
          f"cell the run waited up to {args.quiet_wait:.0f} s for other processes to use less than "
          f"{100 * args.quiet_share:.0f}% of the machine, {args.quiet_budget_s:.0f} s at most in all (waited "
          f"{meta.get('quiet_wait_total_s', 0):.0f} s)"]
    order = ("each implementation's repeats in a block of its own (--isolated)" if args.isolated
             else "interleaved across implementations")
    L += [f"- timing: wall clock; one warm-up run, then up to {args.repeats} repeats {order} (fewer when one "
          f"run is long: about {args.cell_budget_s:.0f} s per implementation and cell); the table gives the median and, after ±, half the min-max range in % of it. "
          f"Peers predicted or measured above {args.limit_s:.0f} s per run are not repeated or not run (see "
          "the list below). f = max(1, n/10) assumed Byzantine clients; parameters as mapped in "
          "bench/compare_peers.py."]
    if missing:
        L += ["- not measured here: " + "; ".join(f"{k}: {v}" for k, v in missing.items())]
    L += [""]

    rules = [r for r in peers.ALL_RULES if any(x["rule"] == r for x in records)]
    shapes = sorted({(x["n"], x["d"]) for x in records})
    impl_names = []
    for x in records:
        if x["impl"] not in impl_names:
            impl_names.append(x["impl"])

    def rec_of(n, d, rule, impl):
        return next((x for x in records if x["n"] == n and x["d"] == d and x["rule"] == rule and x["impl"] == impl), None)

    def cell_text(x, fg_ms):
        if x is None:
            return "—"
        if x["status"] == "skipped":
            return "skip¹"
        if x["status"] == "error":
            return "error²"
        med = x.get("median_ms")
        spread = 50.0 * (x["max_ms"] - x["min_ms"]) / med if med else 0.0
        s = f"{fmt_ms(med)}"
        s += f" ±{spread:.0f}%" if x.get("reps", 0) > 1 else " (1 run)"
        if x["status"] == "over_limit":
            s += "³"
        if fg_ms and not x["impl"].startswith("fedguard"):
            s += f" [{fg_ms / med:.2g}]"
        return s

    L += ["## Times (ms) per rule", ""]
    L += [f"Each cell: median time in ms ±spread; for peers, `[r]` = {ref} (float32) time / peer time "
          f"(r < 1: fedguard is faster by 1/r). `fg/copy` and `fg/GEMM` = {ref} time / the {ref_dev.upper()} "
          "floor's time on the same matrix (memory copy; X @ X.T, the faster of numpy and torch on the CPU). "
          "¹ skipped, ² failed, ³ single run over the limit: reasons below.", ""]
    for rule in rules:
        names = [m for m in impl_names if rec_of_any(records, rule, m)]
        L += [f"### {rule}", ""]
        L += ["| n | d | " + " | ".join(names) + " | fg/copy | fg/GEMM |",
              "|---:|---:|" + "---:|" * (len(names) + 2)]
        for n, d in shapes:
            if not any(rec_of(n, d, rule, m) for m in names):
                continue
            fg_ms = (rec_of(n, d, rule, ref) or {}).get("median_ms")
            cells = [cell_text(rec_of(n, d, rule, m), fg_ms) for m in names]
            cp, gm = floor_of(floor_records, n, d, "copy", ref_dev), floor_of(floor_records, n, d, "gemm", ref_dev)
            L += [f"| {n:,} | {d:,} | " + " | ".join(cells) +
                  f" | {fmt_ratio(ratio(fg_ms, cp))} | {fmt_ratio(ratio(fg_ms, gm))} |"]
        L += [""]

    # fedguard's own stages
    L += [f"## {ref}: stages (ms, from the last repeat's timings_ms)", ""]
    L += ["| n | d | rule | total | pass 1 (scan) | decide | pass 2 (aggregate) | fp16 input total |",
          "|---:|---:|---|---:|---:|---:|---:|---:|"]
    for rule in rules:
        for n, d in shapes:
            x = rec_of(n, d, rule, ref)
            if not x or "fedguard_timings_ms" not in x:
                continue
            t = x["fedguard_timings_ms"]
            h = rec_of(n, d, rule, ref + " fp16")
            ht = (h or {}).get("fedguard_timings_ms", {}).get("total")
            L += [f"| {n:,} | {d:,} | {rule} | {fmt_ms(t.get('total'))} | {fmt_ms(t.get('pass1_scan'))} | "
                  f"{fmt_ms(t.get('decide'))} | {fmt_ms(t.get('pass2_aggregate'))} | {fmt_ms(ht)} |"]
    L += [""]

    # floors
    L += ["## Floors (same n x d float32 matrix)", ""]
    fnames = []
    for r in floor_records:
        if r["floor"] not in fnames:
            fnames.append(r["floor"])
    L += ["| n | d | " + " | ".join(fnames) + " |", "|---:|---:|" + "---:|" * len(fnames)]
    for n, d in shapes:
        cells = []
        for fn in fnames:
            r = next((r for r in floor_records if r["n"] == n and r["d"] == d and r["floor"] == fn), None)
            if not r or not r.get("median_ms"):
                cells.append("—" if not r else r.get("status", "—"))
                continue
            extra = ""
            if "GB_per_s" in r:
                extra = f" ({r['GB_per_s']:.1f} GB/s)"
            elif "GFLOP_per_s" in r:
                extra = f" ({r['GFLOP_per_s']:.0f} GFLOP/s)"
            cells.append(fmt_ms(r["median_ms"]) + extra)
        L += [f"| {n:,} | {d:,} | " + " | ".join(cells) + " |"]
    L += ["", "GB/s: bytes read plus written (copies), or bytes moved (host to device), over the fastest run; "
          "GFLOP/s: 2 n^2 d over the fastest run (the full product, both triangles).", ""]

    # goals
    n0, d0 = GOAL_SHAPE
    if ref == "fedguard cpu" and any(x["n"] == n0 and x["d"] == d0 for x in records):
        L += [f"## Goal: >= {GOAL_SPEEDUP:.0f}x faster than ByzFL and Flower at n={n0}, d={d0:,} (CPU)", ""]
        L += ["Speedup = peer median / fedguard median (the goal's measure); `best-of` = fastest peer run / "
              "fastest fedguard run, the least disturbed pair on a loaded machine.", ""]
        L += ["| rule | fedguard ms | peer | peer ms | speedup (peer / fedguard) | best-of speedup | goal |",
              "|---|---:|---|---:|---:|---:|---|"]
        for rule in GOAL_RULES:
            fg = rec_of(n0, d0, rule, "fedguard cpu")
            if not fg or not fg.get("median_ms"):
                continue
            for m in ("byzfl numpy", "byzfl torch", "flower"):
                x = rec_of(n0, d0, rule, m)
                if x is None:
                    continue
                if not x.get("median_ms"):
                    L += [f"| {rule} | {fmt_ms(fg['median_ms'])} | {m} | {x['status']}: {x['reason']} | — | — | — |"]
                    continue
                s = x["median_ms"] / fg["median_ms"]
                best = x["min_ms"] / fg["min_ms"]
                L += [f"| {rule} | {fmt_ms(fg['median_ms'])} | {m} | {fmt_ms(x['median_ms'])} | {s:.1f}x | "
                      f"{best:.1f}x | {'met' if s >= GOAL_SPEEDUP else 'MISSED'} |"]
        L += [""]

    # skipped / failed
    odd = [x for x in records if x["status"] != "ok"]
    if odd:
        L += ["## Not measured, failed, or single runs", ""]
        for x in odd:
            L += [f"- {x['impl']}, {x['rule']}, n={x['n']:,}, d={x['d']:,}: {x['status']}: {x['reason']}"]
        L += [""]

    # agreement
    L += [f"## Agreement with {ref} (relative L2 difference of the aggregate, largest over the grid)", ""]
    L += ["| implementation | " + " | ".join(rules) + " |", "|---|" + "---:|" * len(rules)]
    for m in impl_names:
        if m == ref:
            continue
        cells = []
        for rule in rules:
            ds = [x["rel_diff_vs_reference"] for x in records
                  if x["impl"] == m and x["rule"] == rule and x.get("rel_diff_vs_reference") is not None]
            cells.append(f"{max(ds):.1e}" if ds else "—")
        L += [f"| {m} | " + " | ".join(cells) + " |"]
    L += ["", "Expected differences: float16 input (rounding of the input); torch.median takes the lower of "
          "the two middle values for even n (the others average them); the peers' geometric median stops "
          f"after {peers.GM_ITERS} Weiszfeld steps from their own start, fedguard's runs to convergence.", ""]
    Path(path).write_text("\n".join(L) + "\n")


def rec_of_any(records, rule, impl):
    return any(x["rule"] == rule and x["impl"] == impl for x in records)


def fmt_ratio(v):
    return "—" if v is None else f"{v:.2g}"


# ----------------------------------------------------------------------------------------------
# scaling


def fit_model(points, terms):
    """Least squares t = sum_k c_k * term_k(n, d) with c_k >= 0 (drops negative terms)."""
    names = list(terms)
    while names:
        A = np.array([[terms[k](n, d) for k in names] for n, d, _ in points], dtype=np.float64)
        y = np.array([t for *_, t in points], dtype=np.float64)
        # Weight by 1/t: fit relative errors, so small and large cells count alike.
        w = 1.0 / np.maximum(y, 1e-9)
        c, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
        if (c >= 0).all():
            pred = A @ c
            err = float(np.max(np.abs(pred - y) / y))
            return dict(zip(names, map(float, c))), err
        names.pop(int(np.argmin(c)))
    return {}, float("nan")


SCALING_TERMS = {
    "const": lambda n, d: 1.0,
    "n*d": lambda n, d: float(n) * d,
    "n^2*d": lambda n, d: float(n) * n * d,
}


def run_scaling(args, fg, devices, out_prefix, meta):
    impls = [i for i in peers.fedguard_impls(fg, "cuda" in devices and "cuda" in fg.backends_built())
             if i.dtype == "fp32" and (i.device in devices)]
    if args.impls:
        impls = [i for i in impls if i.name in args.impls.split(",")]
    runner = Runner(args)
    sweeps = [("n", [(n, args.scaling_fixed_d) for n in parse_list(args.scaling_n)]),
              ("d", [(args.scaling_fixed_n, d) for d in parse_list(args.scaling_d)])]
    rules = args.rules.split(",") if args.rules else ["krum", "median"]
    budget = args.max_gb * 1e9
    for axis, shapes in sweeps:
        for n, d in shapes:
            if 4.0 * n * d > budget:
                print(f"[scaling] skip {n}x{d}: {4e-9 * n * d:.1f} GB > --max-gb {args.max_gb}", flush=True)
                continue
            cell = peers.Cell(n, d, seed=1)
            for rule in rules:
                for impl in impls:
                    recs = runner.run_rule(cell, rule, [impl])
                    for r in recs:
                        r["sweep"] = axis
                        print(f"[scaling] {axis} {impl.name} {rule} n={n} d={d}: "
                              f"{fmt_ms(r.get('median_ms'))} ms {r['status']} {r['reason']}", flush=True)
            cell.release()
            gc.collect()
    fits = []
    for impl in impls:
        for rule in rules:
            pts = [(r["n"], r["d"], r["median_ms"] * 1e-3) for r in runner.records
                   if r["impl"] == impl.name and r["rule"] == rule and r.get("median_ms")]
            if len(pts) < 3:
                continue
            terms = dict(SCALING_TERMS) if rule in peers.GRAM_RULES else {k: v for k, v in SCALING_TERMS.items()
                                                                           if k != "n^2*d"}
            coef, err = fit_model(pts, terms)
            fits.append(dict(impl=impl.name, rule=rule, coef_s=coef, max_rel_err=err, points=len(pts)))
    meta["uptime_end"] = uptime_text()
    res = dict(meta=meta, records=runner.records, fits=fits)
    Path(out_prefix + ".json").write_text(json.dumps(res, indent=1))
    L = [f"# fedguard scaling: {meta['device']}, {meta['date_utc'][:10]}", "",
         f"- command: `{meta['command']}`", f"- device: {meta['device']}; CPU {meta['cpu']}, nproc {meta['nproc']}",
         f"- source: commit {meta['git']}",
         f"- BLAS: fedguard {meta['blas'].get('fedguard', '?')}; environment "
         + ", ".join(f"{k}={v}" for k, v in meta["blas"]["env"].items()),
         f"- load: `uptime` at start `{meta['uptime_start']}`; at end `{meta['uptime_end']}`",
         f"- n sweep at d = {args.scaling_fixed_d:,}; d sweep at n = {args.scaling_fixed_n:,}; data up to "
         f"{args.max_gb:g} GB of float32; each point: warm-up + median of up to {args.repeats} runs", ""]
    L += ["| sweep | implementation | rule | n | d | GB | median ms | spread | pass 1 ms | pass 2 ms | other load |",
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runner.records:
        t = r.get("fedguard_timings_ms", {})
        med = r.get("median_ms")
        spread = f"±{50 * (r['max_ms'] - r['min_ms']) / med:.0f}%" if med else r["status"]
        L += [f"| {r.get('sweep')} | {r['impl']} | {r['rule']} | {r['n']:,} | {r['d']:,} | {4e-9 * r['n'] * r['d']:.2f} | "
              f"{fmt_ms(med)} | {spread} | {fmt_ms(t.get('pass1_scan'))} | {fmt_ms(t.get('pass2_aggregate'))} | "
              f"{100 * r['other_load_share']:.0f}% |"]
    L += ["", "## Fitted cost models", "",
          "t = const + a n d + b n^2 d (Gram rules) or const + a n d (coordinate-wise), least squares on "
          "relative error over both sweeps; negative terms dropped. 1/b = the rate of useful n^2 d products "
          "(GFLOP/s counting n^2 d, i.e. the symmetric product's flops); 4/a = the bytes per second of the "
          "n d term.", "",
          "| implementation | rule | const ms | a (ns per n d) | b (ps per n^2 d) | n^2 d rate GFLOP/s | n d rate GB/s | largest rel. error of the fit | points |",
          "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for f in fits:
        c = f["coef_s"]
        a_, b_ = c.get("n*d"), c.get("n^2*d")
        L += [f"| {f['impl']} | {f['rule']} | {fmt_ms(1e3 * c.get('const', 0.0))} | "
              f"{'—' if a_ is None else f'{a_ * 1e9:.3f}'} | {'—' if b_ is None else f'{b_ * 1e12:.3f}'} | "
              f"{'—' if not b_ else f'{1e-9 / b_:.0f}'} | {'—' if not a_ else f'{4e-9 / a_:.1f}'} | "
              f"{100 * f['max_rel_err']:.0f}% | {f['points']} |"]
    Path(out_prefix + ".md").write_text("\n".join(L) + "\n")
    if not args.no_plot:
        try:
            import plot_compare

            plot_compare.plot_scaling(out_prefix + ".json", out_prefix + ".png")
        except Exception as e:  # noqa: BLE001
            print(f"[scaling] plot failed: {e}", file=sys.stderr)
    print(out_prefix + ".md")


# ----------------------------------------------------------------------------------------------


def parse_list(text):
    return [int(float(v)) for v in str(text).split(",") if v.strip()]


def import_fedguard(path, allow_missing=False):
    if path:
        sys.path.insert(0, path)
    try:
        import fedguard
    except ImportError:
        for cand in ("build-compare/python", "build/python"):
            p = ROOT / cand
            if (p / "fedguard").is_dir():
                sys.path.insert(0, str(p))
                break
        try:
            import fedguard
        except ImportError:
            if allow_missing:
                return None
            raise
    return fedguard


def versions(fg):
    v = {"fedguard": fg.version() if fg else "not importable", "python": platform.python_version(), "numpy": np.__version__}
    for name in ("torch", "scipy", "byzfl", "flwr"):
        v[name] = peers._dist_version(name)
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny grid (n 10,20 x d 1e3,2e3), 1 repeat: a smoke test (seconds)")
    ap.add_argument("--n", help="comma-separated n (default 10,100,1000)")
    ap.add_argument("--d", help="comma-separated d (default 1e4,1e5,1e6)")
    ap.add_argument("--rules", help="comma-separated rules (default: all of " + ",".join(peers.ALL_RULES) + ")")
    ap.add_argument("--families", default="fedguard,byzfl,flower,torch", help="which libraries to time")
    ap.add_argument("--impls", help="only these implementations (names as in the tables, comma-separated)")
    ap.add_argument("--devices", default="auto", help="cpu, cuda or cpu,cuda (auto: cuda where torch sees one)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats after the warm-up (default 5)")
    ap.add_argument("--limit-s", type=float, default=60.0, help="a peer run predicted or measured above this is not repeated / not run")
    ap.add_argument("--cell-budget-s", type=float, default=20.0, help="about this many seconds of repeats per implementation and cell")
    ap.add_argument("--gap-ms", type=float, default=50.0, help="pause before each timed call (thread pools wind down)")
    ap.add_argument("--isolated", action="store_true",
                    help="time each implementation's repeats in a block of its own instead of interleaved: what a "
                         "server sees after an idle pause, with no other library's threads keeping the cores awake")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each cell, wait up to this many seconds for the machine to be quiet (0: never)")
    ap.add_argument("--quiet-budget-s", type=float, default=300.0, help="at most this much waiting in the whole run")
    ap.add_argument("--quiet-share", type=float, default=0.25, help="'quiet': other processes below this share")
    ap.add_argument("--mem-margin-gb", type=float, default=2.0, help="free memory kept in reserve")
    ap.add_argument("--reference", default="auto",
                    help="the implementation the ratios divide by (auto: 'fedguard cpu', else the first fedguard one)")
    ap.add_argument("--no-floors", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--out-dir", default=str(HERE / "results"))
    ap.add_argument("--prefix", help="file prefix (default compare_<device>_<date> or scaling_<device>_<date>)")
    ap.add_argument("--fedguard-path", help="directory holding the fedguard package (e.g. build-compare/python)")
    ap.add_argument("--allow-missing-fedguard", action="store_true",
                    help="run the peers and floors even where fedguard cannot be imported (a GPU machine without a build)")
    ap.add_argument("--scaling", action="store_true", help="fedguard alone along an n and a d sweep, with fitted cost models")
    ap.add_argument("--scaling-n", default="10,30,100,300,1000,2000,4000")
    ap.add_argument("--scaling-fixed-d", type=lambda s: int(float(s)), default=100_000)
    ap.add_argument("--scaling-d", default="1e4,1e5,1e6,3e6,1e7,3e7")
    ap.add_argument("--scaling-fixed-n", type=lambda s: int(float(s)), default=100)
    ap.add_argument("--max-gb", type=float, default=12.0, help="largest input (float32 GB) in --scaling")
    args = ap.parse_args(argv)

    fg = import_fedguard(args.fedguard_path, allow_missing=args.allow_missing_fedguard)
    if args.devices == "auto":
        devices = {"cpu", "cuda"} if peers.cuda_available() else {"cpu"}
    else:
        devices = set(args.devices.split(","))
    gname = gpu_name() if "cuda" in devices else ""
    device_tag = "cpu" if not gname else gname.replace("NVIDIA ", "").split()[0].lower()
    date = dt.datetime.now(dt.timezone.utc)
    kind = "scaling" if args.scaling else "compare"
    prefix = args.prefix or f"{kind}_{device_tag}_{date:%Y-%m-%d}" + ("_quick" if args.quick else "")
    os.makedirs(args.out_dir, exist_ok=True)
    out_prefix = str(Path(args.out_dir) / prefix)
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        pass
    meta = dict(
        device=(f"{gname} + " if gname else "") + f"CPU ({os.cpu_count()} cores)",
        cpu=cpu_model(), nproc=os.cpu_count(), mem_total_gb=mem_total_bytes() / 1e9, gpu=gname,
        date_utc=date.strftime("%Y-%m-%d %H:%M:%S UTC"), host=platform.node(), platform=platform.platform(),
        command="PYTHONPATH=%s python3 %s" % (os.environ.get("PYTHONPATH", ""),
                                               shlex.join(["bench/compare.py"] + (argv if argv is not None else sys.argv[1:]))),
        git=git_commit(), versions=versions(fg), uptime_start=uptime_text(), devices=sorted(devices),
        args=vars(args), blas=blas_info(args.fedguard_path),
    )
    if args.scaling:
        run_scaling(args, fg, devices, out_prefix, meta)
        return 0

    ns = parse_list(args.n) if args.n else (QUICK_N if args.quick else FULL_N)
    ds = parse_list(args.d) if args.d else (QUICK_D if args.quick else FULL_D)
    if args.quick:  # a smoke test: seconds, not statistics
        args.repeats = min(args.repeats, 1)
        args.gap_ms = min(args.gap_ms, 2.0)
        args.quiet_wait = 0.0
    rules = args.rules.split(",") if args.rules else list(peers.ALL_RULES)
    families = set(args.families.split(","))
    if fg is None:
        families.discard("fedguard")
    impls, floors, missing = peers.discover(fg, devices, families)
    if fg is None:
        missing["fedguard"] = "not importable in this environment (no build)"

    impls = [i for i in impls if i.device in devices]
    if args.impls:
        impls = [i for i in impls if i.name in args.impls.split(",")]
    floors = [f for f in floors if f.device in devices]
    names = [i.name for i in impls]
    ref_name = args.reference if args.reference != "auto" else next(
        (m for m in ["fedguard cpu"] + [m for m in names if m.startswith("fedguard")] if m in names), None)
    meta["reference"] = ref_name
    runner = Runner(args, ref_name)
    shapes = sorted(((n, d) for n in ns for d in ds), key=lambda s: (s[0] * s[1], s[0]))
    t_start = time.perf_counter()

    def write_all(final):
        loads = [r["other_load_share"] for r in runner.records] or [0.0]
        meta["quiet_wait_total_s"] = float(sum({(r["n"], r["d"], r["rule"]): r.get("quiet_wait_s", 0.0)
                                                for r in runner.records}.values()))
        meta.update(uptime_end=uptime_text(), other_load_mean=float(np.mean(loads)),
                    other_load_max=float(np.max(loads)), wall_s=time.perf_counter() - t_start, complete=final)
        res = dict(meta=meta, records=runner.records, floors=runner.floor_records, missing=missing,
                   mapping=peers.__doc__)
        Path(out_prefix + ".json").write_text(json.dumps(res, indent=1, default=str))
        write_markdown(out_prefix + ".md", meta, runner.records, runner.floor_records, missing, args)

    for n, d in shapes:
        if 4.0 * n * d > mem_available_bytes() - args.mem_margin_gb * (1 << 30):
            print(f"[compare] skip {n}x{d}: the input does not fit in the free memory", flush=True)
            continue
        cell = peers.Cell(n, d)
        if not args.no_floors:
            runner.run_floors(cell, floors)
        for rule in rules:
            if rule == "bulyan" and n < 7:
                continue
            cand = [i for i in impls if rule in i.rules and (i.shapes is None or (n, d) in i.shapes)]
            recs = runner.run_rule(cell, rule, cand)
            summary = ", ".join(f"{r['impl']} {fmt_ms(r.get('median_ms'))}" + ("" if r["status"] == "ok" else f" ({r['status']})")
                                for r in recs)
            print(f"[compare] n={n} d={d} {rule}: {summary}  [{time.perf_counter() - t_start:.0f} s]", flush=True)
        cell.release()
        gc.collect()
        write_all(final=False)  # a run cut short (a time limit) keeps what it measured
    write_all(final=True)
    if not args.no_plot:
        try:
            import plot_compare

            plot_compare.plot_compare(out_prefix + ".json", out_prefix)
        except Exception as e:  # noqa: BLE001 - a missing matplotlib must not lose the tables
            print(f"[compare] plot failed: {e}", file=sys.stderr)
    print(out_prefix + ".md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
