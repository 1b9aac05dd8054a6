#!/usr/bin/env python3
"""How soon could anything see the simulator's ramp? (issue #15's ramp target, docs/monitoring.md)

Reads the update logs (`log_dir`) of a ramp run and of the attack-free run with the same seed
(examples/sim/monitor_ramp.json and monitor_clean.json: identical up to the ramp's first round)
and measures, on the norms the server receives, three detectors that know more than the engine:

- the **oracle**: knows the four ramping clients and the ramp's shape s(u); its statistic is the
  matched filter T_K = -sum_u s(u) dev_u / (sd sqrt(sum_u s(u)^2)) over rounds start..start+K of
  the four clients' mean log-norm (each relative to the round's median) minus its mean over the
  30 rounds before; its null is the same statistic of the same four clients at every start
  round of the attack-free run;
- the **group scan**: knows the shape, not the clients: each client's own matched filter, then
  the sum of the four largest over sqrt(4), against its null over every start round of the
  attack-free run (all 20 clients);
- **pairs**: the mean normalised distance rho and cosine among the ramping clients, which the
  docs once proposed to follow.

A detector that alerts within K rounds of the ramp's start with no false alarm must have its
statistic at K above the attack-free maximum. The per-client scales are estimated on the
attack-free run itself (in sample: optimistic for the detectors).

  scripts/ramp_bound.py --ramp-log R --clean-log C --ramp-result R/../result.json [--start 100]
"""
import argparse
import glob
import json
import struct

import numpy as np

WINDOW = 30  # rounds of the local baseline before each start


def load(log, t):
    raw = open(f"{log}/round_{t:06d}.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    u = header["updates"]
    s, e = u["data_offsets"]
    x = np.frombuffer(raw[8 + n + s:8 + n + e], dtype=np.float32).reshape(u["shape"])
    ids = header["__metadata__"]["client_ids"]
    ids = json.loads(ids) if isinstance(ids, str) else ids
    return x.astype(np.float64), ids


def series(log, rounds, clients):
    """Per round, each client's log-norm minus the round's median; and the pair statistics."""
    norms, pairs = [], []
    for t in range(rounds):
        x, ids = load(log, t)
        x = x[[ids.index(c) for c in clients]]
        nr = np.linalg.norm(x, axis=1)
        ln = np.log(nr)
        norms.append(ln - np.median(ln))
        pairs.append((x, nr))
    return np.array(norms), pairs


def ramp_shape(start_strength, ramp_rounds, k):
    u = np.arange(k + 1)
    return start_strength + (1 - start_strength) * np.minimum(u, ramp_rounds - 1) / (ramp_rounds - 1)


def matched(norms, t0, w, sd):
    """Each client's matched filter over rounds t0..t0+K against its mean of the WINDOW before."""
    base = norms[t0 - WINDOW:t0].mean(0)
    nw = np.sqrt((w * w).sum())
    # the baseline's own noise enters every term: its variance share (sum w)^2 / WINDOW
    inflate = np.sqrt(1 + w.sum() ** 2 / nw ** 2 / WINDOW)
    return -((norms[t0:t0 + len(w)] - base) * w[:, None]).sum(0) / (sd * nw * inflate)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ramp-log", required=True)
    ap.add_argument("--clean-log", required=True)
    ap.add_argument("--ramp-result", required=True, help="the ramp run's result.json (its attackers)")
    ap.add_argument("--start", type=int, default=100)
    ap.add_argument("--ramp-rounds", type=int, default=50)
    ap.add_argument("--start-strength", type=float, default=0.02)
    ap.add_argument("--ks", type=int, nargs="+", default=[5, 8, 10, 12, 15, 20])
    a = ap.parse_args()
    result = json.load(open(a.ramp_result))
    attackers = result["setup"]["malicious_clients"]
    ramp_rounds = len(result["rounds"])
    _, ids = load(a.clean_log, 0)
    clients = sorted(ids, key=lambda c: (len(c), c))
    att = [clients.index(c) for c in attackers]

    clean_rounds = len(glob.glob(f"{a.clean_log}/round_*.safetensors"))
    ramp_norms, ramp_pairs = series(a.ramp_log, ramp_rounds, clients)
    clean_norms, clean_pairs = series(a.clean_log, clean_rounds, clients)
    same = np.array_equal(ramp_norms[:a.start], clean_norms[:a.start])
    print(f"attackers {attackers}; runs identical before round {a.start}: {same}")
    after = clean_norms[a.start:]
    sd = (after - after.mean(0)).std(0)
    print("| K | oracle T (ramp) | oracle null max | group scan (ramp) | scan null max | scan's top 4 = attackers |")
    print("| --: | --: | --: | --: | --: | --- |")
    for k in a.ks:
        w = ramp_shape(a.start_strength, a.ramp_rounds, k)
        starts = range(a.start, clean_rounds - k - 1)
        t_ramp = matched(ramp_norms, a.start, w, sd)
        oracle = t_ramp[att].sum() / np.sqrt(len(att))
        oracle_null = max(matched(clean_norms, t0, w, sd)[att].sum() / np.sqrt(len(att)) for t0 in starts)
        top = lambda t: np.sort(t)[::-1][:len(att)].sum() / np.sqrt(len(att))
        scan_null = max(top(matched(clean_norms, t0, w, sd)) for t0 in starts)
        named = sorted(np.argsort(-t_ramp)[:len(att)].tolist()) == sorted(att)
        print(f"| {k} | {oracle:.2f} | {oracle_null:.2f} | {top(t_ramp):.2f} | {scan_null:.2f} | {'yes' if named else 'no'} |")

    def pair_stats(x, nr):
        g = x[att] @ x[att].T
        n2 = nr[att] ** 2
        rho = np.sqrt(np.maximum(n2[:, None] + n2[None, :] - 2 * g, 0) / ((n2[:, None] + n2[None, :]) / 2))
        cos = g / np.outer(nr[att], nr[att])
        iu = np.triu_indices(len(att), 1)
        return rho[iu].mean(), cos[iu].mean()

    print("\nThe ramping clients' pairs (mean over their 6 pairs and the rounds):")
    for lab, pairs in (("ramp", ramp_pairs), ("attack-free", clean_pairs)):
        spans = [(a.start - 10, a.start), (a.start, a.start + 6), (a.start + 6, a.start + 11),
                 (a.start + 11, a.start + 26)]
        cells = []
        for lo, hi in spans:
            st = np.array([pair_stats(*pairs[t]) for t in range(lo, hi)])
            cells.append(f"rounds {lo}-{hi - 1}: rho {st[:, 0].mean():.3f} cos {st[:, 1].mean():+.3f}")
        print(f"  {lab}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
