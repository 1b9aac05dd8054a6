#!/usr/bin/env python3
"""The GPU kit's CLI check: runs every round of inputs/cases.json with `fedguard round --backend
cuda` and compares it with the CPU backend's answer made on the CPU machine (make_kit_inputs.py):
the same clients accepted, the aggregate within the case's tolerance entry by entry (relative to
max(|cpu_j|, the input's largest magnitude x 1e-3)). Exits non-zero on any difference.

Usage: compare_rounds.py --fedguard build-gpu-kit/bin/fedguard --inputs build-gpu-kit/inputs
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fedguard", required=True)
    ap.add_argument("--inputs", required=True)
    a = ap.parse_args()
    cases = json.load(open(os.path.join(a.inputs, "cases.json")))
    failures = 0
    tmp = tempfile.mkdtemp(prefix="fedguard_rounds_")
    for c in cases:
        name = c["case"]
        args = [os.path.join(a.inputs, os.path.basename(p)) if p.endswith((".npy", ".json")) else p for p in c["args"]]
        out_json, out_npy = os.path.join(tmp, name + ".json"), os.path.join(tmp, name + ".npy")
        cmd = [a.fedguard, "round"] + args + ["--backend", "cuda", "--out", out_json, "--aggregate-out", out_npy]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {name}: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}{r.stderr}")
            failures += 1
            continue
        cpu = json.load(open(os.path.join(a.inputs, name + ".cpu.json")))
        gpu = json.load(open(out_json))
        agg_c = np.load(os.path.join(a.inputs, name + ".cpu.npy")).astype(np.float64)
        agg_g = np.load(out_npy).astype(np.float64)
        x = np.load(os.path.join(a.inputs, name.split("__")[0] + ".npy"))
        scale = np.maximum(np.abs(agg_c), 1e-3 * float(np.max(np.abs(x.astype(np.float64)))))
        err = float(np.max(np.abs(agg_g - agg_c) / scale)) if agg_c.size else 0.0
        same_accept = cpu.get("accepted") == gpu.get("accepted")
        ok = same_accept and err <= c["tol"] and agg_c.shape == agg_g.shape
        print(f"{'ok  ' if ok else 'FAIL'} {name}: accepted {'equal' if same_accept else 'DIFFER'}, "
              f"max relative aggregate error {err:.2e} (tol {c['tol']:.0e}), timings {gpu.get('timings_ms')}")
        failures += not ok
    print(f"{len(cases) - failures} of {len(cases)} rounds match the CPU backend")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
