#!/usr/bin/env python3
"""Replays per-client monitoring (docs/monitoring.md, "Per-client monitoring";
host/monitor/client_monitor.cc, the same steps in the same order) over simulator runs that
recorded every client's detection z values, for a grid of parameters, and prints the alerts in
attack-free runs and the first-alert delays in runs with a change. A study tool for choosing the
defaults; the engine's implementation is the C++ one.

The runs must have been made with per-client scores in result.json (rounds[i]["scores"]
{"detect_<signal>": [z per row or null]} and rounds[i]["ids"]): a simulator built with that
recording (not part of the product: the recording was a local patch for the study).

  scripts/replay_clients.py OUT_DIR [--h 8 10 12] [--min-group 1 2 3] [--baseline-lambda 0.05]
"""
import argparse
import glob
import json
import math
import os

import numpy as np

SIDES = {"norm": "both", "direction": "down", "sign": "both", "spectral": "both", "collusion": "down", "history": "down"}
MIN_TESTED = 5


def robust_baseline(values, min_scale):
    """monitor/baseline.cc: mean and sd of the values within 3.5 x 1.4826 x MAD of the median,
    the sd made long-run with the lag-1 autocorrelation clamped to [0, 0.8]."""
    v = np.asarray(values, dtype=float)
    med = np.median(v)
    mad = np.median(np.abs(v - med))
    cut = 3.5 * max(1.4826 * mad, min_scale)
    keep = np.abs(v - med) <= cut
    mean = v[keep].sum() / keep.sum()
    sd = math.sqrt(((v[keep] - mean) ** 2).sum() / (keep.sum() - 1)) if keep.sum() > 1 else 0.0
    x = np.clip(v, med - cut, med + cut) - mean
    den = (x * x).sum()
    r = min(max((x[:-1] * x[1:]).sum() / den, 0.0), 0.8) if den > 0 else 0.0
    return mean, max(sd * math.sqrt((1 + r) / (1 - r)), min_scale)


def replay(rounds, p):
    """Alerts (round, client, signal, side) of client monitoring with parameters p over the rounds."""
    st, alerts = {}, []
    for t, rec in enumerate(rounds):
        n = len(next(iter(rec["scores"].values()))) if rec["scores"] else 0
        ids = rec.get("ids") or [str(i) for i in range(n)]
        for sig in p["signals"]:
            col = rec["scores"].get("detect_" + sig)
            if col is None:
                continue
            tested = []
            for i, cid in enumerate(ids):
                x = col[i]
                if x is None:
                    continue
                s = st.setdefault((cid, sig), {"warm": [], "ready": False, "up": 0.0, "down": 0.0})
                if not s["ready"]:
                    s["warm"].append(x)
                    if len(s["warm"]) >= p["warmup"]:
                        s["mu"], s["sc"] = robust_baseline(s["warm"], p["min_scale"])
                        s["ready"] = True
                    continue
                tested.append((cid, s, x, (x - s["mu"]) / s["sc"]))
            if len(tested) < MIN_TESTED:
                continue
            d = np.array([e[3] for e in tested])
            med = np.median(d)
            c = max(1.0, 1.4826 * np.median(np.abs(d - med)))
            for cid, s, x, dv in tested:
                e = (dv - med) / c
                s["up"] = max(0.0, s["up"] + e - p["k"])
                s["down"] = max(0.0, s["down"] - e - p["k"])
                r = x - s["mu"]
                s["sc"] = max(math.sqrt((1 - p["scale_lambda"]) * s["sc"] ** 2
                                        + p["scale_lambda"] * min(r * r, 9 * s["sc"] ** 2)), p["min_scale"])
                s["mu"] += p["baseline_lambda"] * r
            g = p["min_group"]
            sides = ["up", "down"] if SIDES[sig] == "both" else ["down"]
            fired = {side: len(tested) >= g and sorted((e[1][side] for e in tested), reverse=True)[g - 1] > p["h"]
                     for side in sides}
            for cid, s, x, dv in tested:
                hit = [side for side in sides if fired[side] and s[side] > p["h"]]
                for side in hit:
                    alerts.append((t, cid, sig, side))
                if hit:
                    s["up"] = s["down"] = 0.0
    return alerts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--h", type=float, nargs="+", default=[10])
    ap.add_argument("--k", type=float, nargs="+", default=[0.5])
    ap.add_argument("--min-group", type=int, nargs="+", default=[3])
    ap.add_argument("--baseline-lambda", type=float, nargs="+", default=[0.05])
    ap.add_argument("--scale-lambda", type=float, nargs="+", default=[0.02])
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--min-scale", type=float, default=0.25)
    ap.add_argument("--signals", nargs="+", default=["norm", "direction", "sign", "spectral", "collusion"])
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    runs = []
    for path in sorted(glob.glob(os.path.join(a.out_dir, "*", "result.json"))):
        with open(path) as f:
            r = json.load(f)
        if r["rounds"] and "scores" in r["rounds"][0]:
            runs.append((os.path.basename(os.path.dirname(path)), r["summary"]["monitoring"]["change_round"], r["rounds"]))
    for h in a.h:
        for k in a.k:
            for g in a.min_group:
                for bl in a.baseline_lambda:
                    for sl in a.scale_lambda:
                        p = {"signals": a.signals, "h": h, "k": k, "min_group": g, "baseline_lambda": bl,
                             "scale_lambda": sl, "warmup": a.warmup, "min_scale": a.min_scale}
                        false_alarms, delays = 0, []
                        for name, change, rounds in runs:
                            al = replay(rounds, p)
                            early = [x for x in al if change is None or x[0] < change]
                            false_alarms += len(early)
                            if a.verbose and early:
                                print("   early", name, early[:6])
                            if change is not None:
                                after = [x for x in al if x[0] >= change]
                                delays.append(f"{name}:{after[0][0] - change if after else None}")
                                if a.verbose and after:
                                    print("   after", name, after[:6])
                        print(f"h {h} k {k} min_group {g} baseline_lambda {bl} scale_lambda {sl}: "
                              f"alerts in attack-free rounds {false_alarms} | {' '.join(delays)}", flush=True)


if __name__ == "__main__":
    main()
