#!/usr/bin/env python3
"""In-control run length of the aggregate_cosine EWMA (one side, down; lambda 0.2, L 4.5) with a
following baseline, by simulation: z independent standard normal, or AR(1) with lag-1
correlation rho scaled by the long-run scale the warm-up estimates (sqrt((1 + rho)/(1 - rho)),
monitor/baseline.cc). 400 runs of at most 2e5 values each; censored runs count as 2e5, so a
mean near 2e5 means "above 1e5"."""
import numpy as np


def run_lengths(bl, sl, rho, L=4.5, lam=0.2, runs=400, maxt=200000, seed=1):
    rng = np.random.default_rng(seed)
    mean = np.zeros(runs)
    scale = np.full(runs, np.sqrt((1 + rho) / (1 - rho)))
    s = np.zeros(runs)
    n = np.zeros(runs)
    alive = np.ones(runs, bool)
    T = np.full(runs, maxt)
    prev = rng.standard_normal(runs)
    for t in range(maxt):
        x = rho * prev + np.sqrt(1 - rho * rho) * rng.standard_normal(runs)
        prev = x
        z = (x - mean) / scale
        n += 1
        s = lam * z + (1 - lam) * s
        lim = L * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * n)))
        alarm = (s < -lim) & alive
        T[alarm] = t + 1
        alive &= ~alarm
        r = x - mean
        scale = np.sqrt((1 - sl) * scale ** 2 + sl * np.minimum(r * r, 9 * scale ** 2))
        mean += bl * r
        if not alive.any():
            break
    return T


if __name__ == "__main__":
    print("| baseline_lambda | scale_lambda | rho | mean run length | runs without alarm in 2e5 |")
    print("| --: | --: | --: | --: | --: |")
    for bl, sl in [(0.0, 0.0), (0.05, 0.0), (0.15, 0.0), (0.15, 0.02)]:
        for rho in (0.0, 0.4):
            T = run_lengths(bl, sl, rho)
            print(f"| {bl} | {sl} | {rho} | {T.mean():.3g} | {(T == 200000).sum()} of {len(T)} |")
