#!/usr/bin/env python3
"""The recommended preset against the benign-only oracle: one markdown table per (n, alpha).

Reads the setting directories that scripts/run_oracle_matrix.sh writes (one per seed and alpha):
SETTING/oracle/matrix.json (the benign-only oracle over "none" and "backdoor": it leaves the
attackers out, so its attacked runs are all the same run) and SETTING/policies/matrix.json (the
preset over every attack), and the cells' result.json beside them (per-round TPR / FPR). Per
attack, over the seeds:
  - final test accuracy of the oracle and of the preset, the preset minus the oracle (mean, and
    the worst seed);
  - backdoor success (final, triggered non-target images classified as the target) of both;
  - the preset's detection TPR (mean over the attacked rounds, then over seeds; and the lowest
    seed) and FPR (mean; and the highest single round of any seed).
Targets of issue #13: accuracy within 1 point of the oracle, backdoor success <= 3%, TPR >= 0.95
at per-round FPR <= 0.05, FPR <= 0.02 with no attack. A cell that ended early is marked †.

Usage: scripts/oracle_report.py OUT/n50_alpha0.5_seed1 OUT/n50_alpha0.5_seed2 ... > report.md
"""
import collections
import json
import math
import os
import re
import sys


def safe(name):
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def cell_rounds(matrix_path, policy, attack):
    path = os.path.join(os.path.dirname(matrix_path), "cells", f"{safe(policy)}__{safe(attack)}", "result.json")
    try:
        with open(path) as fh:
            return json.load(fh).get("rounds", [])
    except (OSError, ValueError):
        return []


def num(x):
    return x if isinstance(x, (int, float)) and not (isinstance(x, float) and math.isnan(x)) else None


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def fmt(x, scale=100.0, digits=1, signed=False):
    if x is None:
        return "–"
    return f"{scale * x:+.{digits}f}" if signed else f"{scale * x:.{digits}f}"


def load_matrix(path):
    try:
        with open(path) as fh:
            m = json.load(fh)
    except (OSError, ValueError):
        return None, {}
    return m, {(c["policy"], c["attack"]): c["summary"] for c in m["cells"]}


def main(settings, policy="recommended"):
    # (n, alpha) -> attack -> list of per-seed records
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    attacks_order = []
    for setting in settings:
        om, oracle = load_matrix(os.path.join(setting, "oracle", "matrix.json"))
        pm, cells = load_matrix(os.path.join(setting, "policies", "matrix.json"))
        if pm is None:
            continue
        base = pm["base"]
        key = (base.get("clients"), base.get("alpha"))
        matrix_path = os.path.join(setting, "policies", "matrix.json")
        for attack in pm["attacks"]:
            if attack not in attacks_order:
                attacks_order.append(attack)
            o = oracle.get(("benign_oracle", "none" if attack == "none" else "backdoor"), {})
            r = cells.get((policy, attack), {})
            rounds = cell_rounds(matrix_path, policy, attack)
            fprs = [num(x.get("fpr")) for x in rounds]
            backdoor = r.get("final_attack_success") is not None  # a data-level backdoor
            groups[key][attack].append({
                "seed": base.get("seed"),
                "oracle_acc": num(o.get("final_accuracy")),
                "acc": num(r.get("final_accuracy")),
                "oracle_asr": num(o.get("final_attack_success")) if backdoor else None,
                "asr": num(r.get("final_attack_success")),
                "tpr": num(r.get("mean_tpr")),
                "fpr": num(r.get("mean_fpr")),
                "fpr_max": max([x for x in fprs if x is not None], default=None),
                "failed": r.get("status", "ok") != "ok" or o.get("status", "ok") != "ok",
            })
    out = []
    for (n, alpha) in sorted(groups, key=lambda k: (k[0] or 0, -(k[1] or 0))):
        g = groups[(n, alpha)]
        seeds = sorted({rec["seed"] for recs in g.values() for rec in recs})
        out.append(f"### n = {n}, alpha = {alpha} (seeds {', '.join(str(s) for s in seeds)})\n")
        out.append("| attack | oracle acc % | preset acc % | preset - oracle (mean / worst seed) | "
                   "backdoor success % (oracle / preset) | TPR % (mean / lowest seed) | FPR % (mean / worst round) |")
        out.append("| --- | --: | --: | --: | --: | --: | --: |")
        for attack in attacks_order:
            recs = g.get(attack)
            if not recs:
                continue
            diffs = [r["acc"] - r["oracle_acc"] for r in recs if r["acc"] is not None and r["oracle_acc"] is not None]
            worst = min(diffs) if diffs else None
            tprs = [r["tpr"] for r in recs if r["tpr"] is not None]
            asr_o, asr_p = mean(r["oracle_asr"] for r in recs), mean(r["asr"] for r in recs)
            mark = " †" if any(r["failed"] for r in recs) else ""
            out.append(
                f"| {attack}{mark} | {fmt(mean(r['oracle_acc'] for r in recs))} | {fmt(mean(r['acc'] for r in recs))} | "
                f"{fmt(mean(diffs), signed=True, digits=2)} / {fmt(worst, signed=True, digits=2)} | "
                f"{'–' if asr_o is None and asr_p is None else fmt(asr_o) + ' / ' + fmt(asr_p)} | "
                f"{'–' if not tprs else fmt(mean(tprs)) + ' / ' + fmt(min(tprs))} | "
                f"{fmt(mean(r['fpr'] for r in recs), digits=2)} / {fmt(max([r['fpr_max'] for r in recs if r['fpr_max'] is not None], default=None))} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
