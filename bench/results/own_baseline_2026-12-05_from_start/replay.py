#!/usr/bin/env python3
"""Open-loop replay of a "from-start" own baseline over `fedguard scan` rounds.jsonl files.

The engine's own baselines (docs/detection.md) learn a client's habit from its accepted rounds
only, so a client that is an outlier from its first round never has one. This replays, on the
logged verdicts, the alternative of learning the norm and sign habits from every round, with
the habit taken as the smaller (same side) of two bias-corrected EWMAs (rate 0.1): the one over
the client's first 5 rounds (frozen afterwards) and the one over all its rounds, clamped to
+-cap. A rejection in the log is counted as spared when it came from the detection stage, every
signal that fired was norm or sign, and each such z lies within cut + |habit| on the habit's
side. Open loop: the spared clients' updates are not fed back into training.

Usage: replay.py CAP ROUNDS_JSONL...   (prints one line per file)
"""
import collections
import json
import sys

RATE, FIRST_ROUNDS, MIN_ROUNDS, MAX_DISTANCE = 0.1, 5, 5, 0.25


def fired_signals(v):
    out = []
    for s in ("norm", "sign", "direction", "collusion", "history", "history_direction", "spectral_group"):
        z, cut = v.get(s + "_z"), v.get(s + "_cut")
        if z is None or cut is None:
            continue
        if s in ("norm", "sign"):
            hit = abs(z) > cut
        elif s in ("direction", "history_direction"):
            hit = z < -cut
        elif s in ("collusion", "history"):  # near-duplicates only (collusion_max_distance)
            hit = z < -cut and v.get(s, 1.0) < MAX_DISTANCE
        else:
            hit = z > cut
        if hit:
            out.append(s)
    return out


def replay(path, cap):
    ewma = collections.defaultdict(lambda: {"n": 0, **{k: [0.0, 0.0] for k in ("norm", "sign", "first_norm", "first_sign")}})
    counts = collections.Counter()
    for line in open(path):
        r = json.loads(line)
        malicious = set(r["malicious"])
        rejected = {j["id"]: j for j in r["rejections"]}
        for i, c in enumerate(r["client_ids"]):
            side = "mal" if c in malicious else "ben"
            counts[side + "_total"] += 1
            e = ewma[c]
            if c in rejected:
                j = rejected[c]
                counts[side + "_rejected"] += 1
                fired = fired_signals(j["values"]) if j["stage"] == "detect" else []
                spared = bool(fired) and all(s in ("norm", "sign") for s in fired) and e["n"] >= MIN_ROUNDS
                for s in fired if spared else []:
                    z, cut = j["values"][s + "_z"], j["values"][s + "_cut"]
                    (a, wa), (f, wf) = e[s], e["first_" + s]
                    mean_all, mean_first = (a / wa, f / wf) if wa > 0 and wf > 0 else (0.0, 0.0)
                    habit = 0.0 if mean_all * mean_first <= 0 else (1 if mean_all > 0 else -1) * min(abs(mean_all), abs(mean_first))
                    habit = max(-cap, min(cap, habit))
                    spared &= (habit > 0) == (z > 0) and abs(z) <= cut + abs(habit)
                counts[side + "_spared"] += spared
            for s in ("norm", "sign"):
                z = r["scores"]["detect_" + s][i]
                if z is None:
                    continue
                keys = (s, "first_" + s) if e["n"] < FIRST_ROUNDS else (s,)
                for k in keys:
                    e[k][0] = (1 - RATE) * e[k][0] + RATE * z
                    e[k][1] = (1 - RATE) * e[k][1] + RATE
            e["n"] += 1
    return counts


if __name__ == "__main__":
    cap = float(sys.argv[1])
    for path in sys.argv[2:]:
        c = replay(path, cap)
        fpr0 = 100 * c["ben_rejected"] / c["ben_total"]
        fpr1 = 100 * (c["ben_rejected"] - c["ben_spared"]) / c["ben_total"]
        tpr0 = 100 * c["mal_rejected"] / c["mal_total"] if c["mal_total"] else float("nan")
        tpr1 = 100 * (c["mal_rejected"] - c["mal_spared"]) / c["mal_total"] if c["mal_total"] else float("nan")
        print(f"{path}: cap {cap:g}: FPR {fpr0:.2f} -> {fpr1:.2f}%, TPR {tpr0:.1f} -> {tpr1:.1f}%")
