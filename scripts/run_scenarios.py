#!/usr/bin/env python3
"""Runs the simulator's verification and monitoring scenarios (docs/simulator.md, "Scenarios")
one process at a time, for several seeds, and prints the tables of docs/evaluation.md (MPAF fake
clients) and docs/monitoring.md (detection delays, false alarms).

  scripts/run_scenarios.py build/bin/fedguard OUT_DIR [--seeds 1 2 3] [--only monitor|mpaf]
                           [--names NAME ...] [--server-metrics] [--table-only]

Each run's config is examples/sim/<name>.json with the seed and out_dir replaced; a run whose
result.json exists is not run again.
"""
import argparse
import json
import os
import subprocess
import sys
import time

MONITOR = ["monitor_clean", "monitor_drift_resplit", "monitor_drift_labels", "monitor_sleeper", "monitor_ramp",
           "monitor_sleeper_mean", "monitor_ramp_mean", "monitor_sleeper_mean_ipm10", "monitor_ramp_alie",
           "monitor_ramp_signflip"]
MPAF = ["mpaf_baseline", "mpaf_fake_none", "mpaf_fake_enrolled", "mpaf_fake_enrolled_mean"]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary, name, seed, out_root, table_only, server_metrics=False):
    out = os.path.join(out_root, f"{name}{'_srv' if server_metrics else ''}_s{seed}")
    result = os.path.join(out, "result.json")
    if not os.path.exists(result):
        if table_only:
            return None
        with open(os.path.join(HERE, "..", "examples", "sim", name + ".json")) as f:
            cfg = json.load(f)
        cfg["seed"] = seed
        if server_metrics:
            cfg["server_metrics"] = True
        cfg["out_dir"] = out
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        t = time.time()
        subprocess.run([binary, "simulate", "--config", path, "--quiet"], check=False)
        print(f"[scenarios] {name} seed {seed}: {time.time() - t:.0f} s", file=sys.stderr, flush=True)
        if not os.path.exists(result):
            return None
    with open(result) as f:
        return json.load(f)


def monitor_table(results):
    print("| scenario | seed | rounds | change | alerts before change | first alert after change (delay) | by detector: alerts (delay) |")
    print("| --- | --- | --: | --: | --: | --- | --- |")
    for name, seed, r in results:
        m = r["summary"]["monitoring"]
        dets = ", ".join(f"{k} {v['alerts']}" + (f" ({v['delay']})" if v["delay"] is not None else "")
                         for k, v in m["by_detector"].items()) or "none"
        change = m["change_round"]
        delay = "-" if change is None else (f"round {change + m['detection_delay']} ({m['detection_delay']})"
                                            if m["detection_delay"] is not None else "none")
        print(f"| {name} | {seed} | {r['summary']['rounds_completed']} | {'-' if change is None else change} | "
              f"{m['alerts_before_change']} | {delay} | {dets} |")


def mpaf_table(results):
    print("| scenario | seed | final accuracy | fake submissions | rejected | rejections by code | "
          "max fake weight | mean TPR / FPR | status |")
    print("| --- | --- | --: | --: | --: | --- | --: | --- | --- |")
    for name, seed, r in results:
        s = r["summary"]
        w = [x.get("malicious_weight") or 0 for x in r["rounds"] if x.get("malicious_rows")]
        tpr = "-" if s["mean_tpr"] is None else f"{s['mean_tpr']:.2f}"
        fpr = "-" if s["mean_fpr"] is None else f"{s['mean_fpr']:.3f}"
        print(f"| {name} | {seed} | {100 * s['final_accuracy']:.1f} | {s.get('malicious_submissions', 0)} | "
              f"{s.get('malicious_rejected', 0)} | {json.dumps(s.get('malicious_rejections', {}))} | "
              f"{max(w) if w else 0:.3g} | {tpr} / {fpr} | {s['status']} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("out_dir")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--only", choices=["monitor", "mpaf"])
    ap.add_argument("--names", nargs="+", help="run only these scenarios")
    ap.add_argument("--table-only", action="store_true", help="print the tables of the runs done")
    ap.add_argument("--server-metrics", action="store_true",
                    help="the server feeds its validation loss and accuracy (\"server_metrics\": true); "
                         "runs go to <name>_srv_s<seed>")
    a = ap.parse_args()
    groups = [("mpaf", MPAF, mpaf_table), ("monitor", MONITOR, monitor_table)]
    for group, names, table in groups:
        if a.only and a.only != group:
            continue
        results = []
        for name in names:
            if a.names and name not in a.names:
                continue
            for seed in a.seeds:
                r = run(a.binary, name, seed, a.out_dir, a.table_only, a.server_metrics)
                if r is not None:
                    results.append((name, seed, r))
        if results:
            table(results)
            print()


if __name__ == "__main__":
    main()
