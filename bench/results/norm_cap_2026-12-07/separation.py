#!/usr/bin/env python3
"""What tells label flippers from honest clients among the client-rounds above 3x the median norm
(round 10 on): AUC and quantiles of every per-client score of `fedguard scan`'s rounds.jsonl,
then the share of each side inside the collusion gate (collusion z >= -cut; with the history z
as a second gate; and fixed gates). The scans were of logs kept by `fedguard simulate` with
`log_dir` and scanned with the first version (n = 200) or this engine (n = 50) switched on.

  separation.py N --flippers SCAN/rounds.jsonl... --honest SCAN/rounds.jsonl...
"""
import argparse
import json
import math
import statistics as st
from math import expm1, log1p

import scipy.stats as ss


def load(paths, want_malicious):
    out = []
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r["round"] < 10:
                continue
            mal = set(r["malicious"])
            norms = r["scores"]["norm"]
            med = st.median(norms)
            for i, c in enumerate(r["client_ids"]):
                if (c in mal) == want_malicious and norms[i] / med > 3:
                    out.append({k: v[i] for k, v in r["scores"].items()})
    return out


def finite(v):
    return sorted(x for x in v if x is not None and math.isfinite(x))


def auc(a, b):
    a, b = finite(a), finite(b)
    if not a or not b:
        return None
    return sum(1 if x > y else 0.5 if x == y else 0 for x in a for y in b) / len(a) / len(b)


def quantiles(v):
    v = finite(v)
    return "-" if not v else "%.2f/%.2f/%.2f" % (v[len(v) // 10], v[len(v) // 2], v[9 * len(v) // 10])


ap = argparse.ArgumentParser()
ap.add_argument("n", type=int, help="clients per round (for the collusion cut)")
ap.add_argument("--flippers", nargs="+", required=True)
ap.add_argument("--honest", nargs="+", required=True)
a = ap.parse_args()
F = load(a.flippers, True)
H = load(a.honest, False) + load(a.flippers, False)
print("client-rounds above 3x: flippers", len(F), "honest", len(H))
for k in sorted(set().union(*[set(x) for x in F + H])):
    fa, ha = [x.get(k) for x in F], [x.get(k) for x in H]
    u = auc(fa, ha)
    print("%-28s AUC(F>H) %s  F %s (n=%d)  H %s (n=%d)" % (
        k, "-" if u is None else "%.3f" % u, quantiles(fa), len(finite(fa)), quantiles(ha), len(finite(ha))))
# The collusion signal's cut: Sidak over n - 1 comparisons of 0.002, one-sided, Student's t with
# 0.55 (n - 1) degrees of freedom (docs/detection.md, "Calibration").
alpha = -expm1(log1p(-0.002) / (a.n - 1))
cut = ss.t.ppf(1 - alpha, max(3, 0.55 * (a.n - 1)))
print("collusion cut %.3f" % cut)


def inside(x, key, t):
    return x.get(key) is None or not math.isfinite(x[key]) or x[key] >= -t


for name, S in (("flippers", F), ("honest", H)):
    one = sum(inside(x, "detect_collusion", cut) for x in S) / len(S)
    both = sum(inside(x, "detect_collusion", cut) and inside(x, "detect_history", cut) for x in S) / len(S)
    print("%s inside the collusion gate %.3f, inside it and the history gate %.3f" % (name, one, both))
for t in (1.5, 2, 2.5, 3, 3.5, 4, cut):
    print("gate -%.2f: flippers %.3f honest %.3f" % (
        t, sum(inside(x, "detect_collusion", t) for x in F) / len(F),
        sum(inside(x, "detect_collusion", t) for x in H) / len(H)))
