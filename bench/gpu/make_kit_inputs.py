#!/usr/bin/env python3
"""Comparison inputs for the GPU kit (bench/gpu/make_kit.sh): rounds as .npy, policies as JSON,
and the CPU backend's answers for them, made here with the kit's own `fedguard` CLI
(`--backend cpu`), so that the GPU machine compares `fedguard round --backend cuda` against them
without making any input itself (bench/gpu/compare_rounds.py).

Usage: make_kit_inputs.py --fedguard build-gpu-kit/bin/fedguard --out build-gpu-kit/inputs
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

# name -> policy; every policy runs on every input.
POLICIES = {
    "mean": {"aggregator": {"rule": "mean"}},
    "median": {"aggregator": {"rule": "median"}},
    "trimmed_mean": {"aggregator": {"rule": "trimmed_mean", "trim": 4}},
    "multi_krum": {"aggregator": {"rule": "multi_krum", "f": 4}},
    "bulyan": {"aggregator": {"rule": "bulyan", "f": 4}},
    "recommended": {"filters": [{"rule": "norm_bound", "max_ratio": 3.0}], "transforms": [{"rule": "nnm", "f": 4}],
                    "aggregator": {"rule": "trimmed_mean", "trim": 4}},
    "fltrust": {"aggregator": {"rule": "fltrust"}},
}


def make_round(rng, n, d, dtype):
    g = np.sin(0.001 * np.arange(d)).astype(np.float32) * 1e-3
    x = g + rng.standard_normal((n, d)).astype(np.float32) * 5e-4
    x[:4] = -3.0 * g + rng.standard_normal((4, d)).astype(np.float32) * 5e-4  # 4 sign-flipping attackers
    x[4] *= 20.0                                                              # one scaled update
    return x.astype(dtype)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fedguard", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(16)
    inputs = {"r40x50000_f32": make_round(rng, 40, 50000, np.float32),
              "r41x20000_f16": make_round(rng, 41, 20000, np.float16)}
    ref = (np.sin(0.001 * np.arange(50000)) * 1e-3).astype(np.float32)
    np.save(os.path.join(a.out, "reference_50000.npy"), ref)
    np.save(os.path.join(a.out, "reference_20000.npy"), ref[:20000].copy())
    cases = []
    for name, x in inputs.items():
        np.save(os.path.join(a.out, name + ".npy"), x)
        for pname, policy in POLICIES.items():
            cfg = os.path.join(a.out, pname + ".json")
            with open(cfg, "w") as fh:
                json.dump(policy, fh)
            case = f"{name}__{pname}"
            cmd = [a.fedguard, "round", "--updates", os.path.join(a.out, name + ".npy"), "--config", cfg,
                   "--backend", "cpu", "--out", os.path.join(a.out, case + ".cpu.json"),
                   "--aggregate-out", os.path.join(a.out, case + ".cpu.npy")]
            if pname == "fltrust":
                cmd += ["--reference", os.path.join(a.out, f"reference_{x.shape[1]}.npy")]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"ERROR: {case}: {' '.join(cmd)}\n{r.stdout}{r.stderr}", file=sys.stderr)
                return 1
            cases.append({"case": case, "args": cmd[2:6] + cmd[12:], "tol": 1e-5})
    with open(os.path.join(a.out, "cases.json"), "w") as fh:
        json.dump(cases, fh, indent=1)
    print(f"{len(cases)} comparison rounds in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
