#!/usr/bin/env python3
"""Offline study behind `history_group` (docs/detection.md, "The history group").

Reads a simulator update log (fedguard simulate with log_dir; one safetensors file per round),
accumulates each client's cumulative update H_i (exact, d-space, or through a random count sketch
of k buckets like the engine's), and per round scores the best coalition: for each group size g,
each client's log normalised distance to its (g - 1)-th nearest other client, robustly z'd
(median / 1.4826 MAD x m / (m - 0.8), scale floor 0.05); the g lowest with the g-th at least 3
(MINZ) are scored 1 + (gap - 1) g / 3 (gap = z_(g) / max(z_(g+1), 1)), loose groups (g-th under
TIGHT x the first) either skipped (--loose skip) or scored with the bare gap.
Prints, per run: the largest score, rounds at >= 3, rounds whose best group held honest clients,
the first round a group with malicious clients scored >= 3.

  python3 study.py LOG_DIR [--rounds 100] [--sketch K --seed S] [--tight 0.5] [--stat kth|mean]
"""
import argparse, json, struct

import numpy as np


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        meta, t = h["__metadata__"], h["updates"]
        f.seek(8 + n + t["data_offsets"][0])
        x = np.frombuffer(f.read(t["data_offsets"][1] - t["data_offsets"][0]), dtype=np.float32)
    return json.loads(meta["client_ids"]), set(json.loads(meta["malicious"])), x.reshape(t["shape"])


def log_neighbour_distances(h):
    nrm = (h * h).sum(1)
    d2 = np.maximum(nrm[:, None] + nrm[None, :] - 2 * h @ h.T, 0)
    rho = np.sqrt(d2 / ((nrm[:, None] + nrm[None, :]) / 2))
    np.fill_diagonal(rho, np.inf)
    return np.log(np.maximum(np.sort(rho, 1), 1e-12))


def best_group(lr, malicious, gmax, tight, loose, stat):
    m = lr.shape[0]
    best = (0.0, 0, 0)
    for g in range(3, gmax + 1):
        v = lr[:, g - 2] if stat == "kth" else lr[:, : g - 1].mean(1)
        med = np.median(v)
        scale = max(1.4826 * np.median(abs(v - med)) * m / (m - 0.8), 0.05)
        z = (v - med) / scale
        order = np.argsort(z, kind="stable")
        a = -z[order]
        if a[g - 1] < 3.0:
            continue
        is_tight = a[g - 1] >= tight * a[0]
        if not is_tight and loose == "skip":
            continue
        gap = a[g - 1] / max(a[g], 1.0)
        score = 1 + (gap - 1) * (g / 3 if is_tight else 1)
        if score > best[0]:
            best = (score, g, int(malicious[order[:g]].sum()))
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("log")
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--sketch", type=int, default=0, help="k buckets (0: exact H)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tight", type=float, default=0.5)
    p.add_argument("--loose", choices=["skip", "bare"], default="skip")
    p.add_argument("--stat", choices=["kth", "mean"], default="kth")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    h, sketch, res = None, None, []
    for t in range(a.rounds):
        ids, mal, x = load(f"{a.log}/round_{t:06d}.safetensors")
        x = x.astype(np.float64)
        if a.sketch and sketch is None:
            d = x.shape[1]
            sketch = np.zeros((d, a.sketch))
            sketch[np.arange(d), rng.integers(0, a.sketch, d)] = rng.choice([-1.0, 1.0], d)
        x = x @ sketch if a.sketch else x
        h = x if h is None else h + x
        if t < 1:
            continue
        malicious = np.array([i in mal for i in ids])
        res.append((t,) + best_group(log_neighbour_distances(h), malicious, (len(ids) - 1) // 2,
                                     a.tight, a.loose, a.stat))
    fired = [r for r in res if r[1] >= 3]
    with_mal = [r for r in fired if r[3] > 0]
    with_honest = [r for r in fired if r[3] < r[2]]
    print(f"{a.log}: largest {max(r[1] for r in res):.2f}; rounds >= 3: {len(fired)}; "
          f"with honest members: {len(with_honest)}; first with malicious: "
          f"{with_mal[0][0] if with_mal else None}; largest without malicious: "
          f"{max([r[1] for r in res if r[3] == 0] or [0]):.2f}")


if __name__ == "__main__":
    main()
