#!/usr/bin/env python3
"""Replays the `aggregate_cosine` EWMA detector (host/monitor/ewma.cc with the warm-up of
baseline.cc and the following baseline of detector.cc, written again in Python) on recorded
per-round cosines, for other parameters than the ones the runs used.

  cosine_replay.py extract SERIES.json RESULT.json...   collect the cosines (12 digits), the change round,
                                                        whether every attacker was rejected in
                                                        every round, and the engine's own alerts
  cosine_replay.py check SERIES.json                    the replay with the parameters of the runs
                                                        (baseline_lambda 0.05, L 4.5) against the
                                                        engine's alerts, run by run
  cosine_replay.py grid SERIES.json                     false alarms, margin and the delay after
                                                        a sustained drop, per setting

A run is "clean" when nothing attacks or every attacker was rejected in every round (the
federation the aggregate sees is honest); an alert there is a false alarm. A run whose
attackers were accepted in some rounds (the backdoors at Dirichlet 0.1) is left out of the false
alarms and counted apart. The drop test subtracts a constant from the cosines of the 200-client
attack-free runs from round r on (r = 35, 40, ..., 90) and asks for an alert within 8 rounds.
"""
import json
import math
import sys


def robust_baseline(v):
    s = sorted(v)
    n = len(s)
    med = (s[(n - 1) // 2] + s[n // 2]) / 2
    dev = sorted(abs(x - med) for x in v)
    mad = (dev[(n - 1) // 2] + dev[n // 2]) / 2
    floor = 1e-9 * max(1.0, abs(med))
    cut = 3.5 * max(1.4826 * mad, floor)
    keep = [x for x in v if abs(x - med) <= cut]
    mean = sum(keep) / len(keep)
    sd = math.sqrt(sum((x - mean) ** 2 for x in keep) / (len(keep) - 1)) if len(keep) > 1 else 0
    c = [min(max(x, med - cut), med + cut) - mean for x in v]
    den = sum(x * x for x in c)
    num = sum(c[t] * c[t + 1] for t in range(len(c) - 1))
    r = min(max(num / den, 0.0), 0.8) if den > 0 else 0.0
    return mean, max(sd * math.sqrt((1 + r) / (1 - r)), floor)


def replay(xs, lam=0.2, L=4.5, bl=0.05, sl=0.0, holt_trend=None, warm=30):
    """[(round, statistic / limit, alarm)] for the rounds after the warm-up (direction down).
    bl, sl: the following baseline's baseline_lambda and scale_lambda (detector.cc); holt_trend:
    instead a level following at bl plus a trend following the level's steps at this rate (Holt's
    linear smoothing; not in the engine)."""
    out, w, ready, s, n, trend = [], [], False, 0.0, 0, 0.0
    for rnd, x in xs:
        if not ready:
            w.append(x)
            if len(w) == warm:
                mean, scale = robust_baseline(w)
                ready = True
            continue
        pred = mean + trend
        z = (x - pred) / scale
        n += 1
        s = lam * z + (1 - lam) * s
        lim = L * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * n)))
        alarm = s < -lim
        out.append((rnd, -s / lim, alarm))
        r = x - pred
        scale = max(math.sqrt((1 - sl) * scale * scale + sl * min(r * r, 9 * scale * scale)),
                    1e-9 * max(1.0, abs(mean)))
        if holt_trend is None:
            mean += bl * r
        else:
            level = pred + bl * r
            trend += holt_trend * (level - mean - trend)
            mean = level
        if alarm:
            s, n = 0.0, 0
    return out


def extract(out, paths):
    runs = {}
    for p in paths:
        r = json.load(open(p))
        ch = r["summary"]["monitoring"].get("change_round")
        rounds = r["rounds"]
        caught = all(x.get("tpr") in (None, 1.0) for x in rounds)
        key = p.split("/oracle_I200/")[-1].split("/scen/")[-1]  # n200_alpha*_seed*/... or <scenario>_s<seed>/...
        runs[key] = {
            "cosine": [[x["round"], float(f"{x['metrics']['aggregate_cosine']:.12g}")] for x in rounds
                       if "aggregate_cosine" in x.get("metrics", {})],
            "change_round": ch,
            "clean": ch is None or ch > 0 or caught,
            "attack_free": "none" in p.split("/")[-2] or "clean" in p or "drift" in p,
            "engine_alerts": [x["round"] for x in rounds for a in x.get("alerts", [])
                              if a["metric"] == "aggregate_cosine"],
        }
    json.dump(runs, open(out, "w"))
    print(f"{len(runs)} runs", file=sys.stderr)


def check(runs):
    bad = 0
    for p, r in runs.items():
        got = [rnd for rnd, _, al in replay([tuple(v) for v in r["cosine"]]) if al]
        if got != r["engine_alerts"]:
            bad += 1
            print("differs:", p, got, r["engine_alerts"])
    print(f"replay = engine in {len(runs) - bad} of {len(runs)} runs")


def grid(runs):
    settings = [dict(), dict(bl=0.1), dict(bl=0.1, sl=0.02), dict(bl=0.15), dict(bl=0.15, sl=0.02),
                dict(bl=0.15, sl=0.05), dict(bl=0.2), dict(bl=0.1, L=5.0), dict(sl=0.02),
                dict(bl=0.05, holt_trend=0.1)]
    drops = [0.2, 0.3, 0.4, 0.6]
    base = [[tuple(v) for v in r["cosine"]][:99] for p, r in runs.items()
            if r["attack_free"] and "n200" in p]
    clean = sum(r["clean"] for r in runs.values())
    print(f"{len(runs)} runs, {clean} clean; drops on {len(base)} attack-free 200-client runs\n")
    print("| baseline_lambda | scale_lambda | L | false alarms (clean runs) | largest statistic / limit (clean) "
          "| alerts in runs with accepted attackers | " +
          " | ".join(f"drop {d}: delay (missed of {12 * len(base)})" for d in drops) + " |")
    print("| --- | --: | --: | --: | --- | --: | " + " | ".join("---" for _ in drops) + " |")
    for v in settings:
        fa, worst, where, att = 0, 0.0, "", 0
        for p, r in runs.items():
            out = replay([tuple(x) for x in r["cosine"]], **v)
            ch = r["change_round"]
            if not r["clean"]:
                att += sum(al for _, _, al in out)
                continue
            for rnd, q, al in out:
                if ch is None or ch == 0 or rnd < ch:
                    fa += al
                    if q > worst:
                        worst, where = q, f"{p.split('/')[-5] if 'n200' in p else p.split('/')[-2]} {p.split('/')[-2].replace('recommended__', '')} round {rnd}"
        cells = []
        for d in drops:
            delays, missed = [], 0
            for xs in base:
                for start in range(35, 91, 5):
                    ys = [(rnd, x - (d if rnd >= start else 0)) for rnd, x in xs]
                    al = [rnd for rnd, _, a in replay(ys, **v) if a and rnd >= start]
                    if al and al[0] - start <= 8:
                        delays.append(al[0] - start)
                    else:
                        missed += 1
            mean = f"{sum(delays) / len(delays):.1f}" if delays else "-"
            cells.append(f"{mean} ({missed})")
        lead = f"{v.get('bl', 0.05)}" + (f" + trend {v['holt_trend']}" if "holt_trend" in v else "")
        print(f"| {lead} | {v.get('sl', 0)} | {v.get('L', 4.5)} | {fa} | {worst:.2f} ({where}) | {att} | " +
              " | ".join(cells) + " |")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "extract":
        extract(sys.argv[2], sys.argv[3:])
    elif cmd == "check":
        check(json.load(open(sys.argv[2])))
    elif cmd == "grid":
        grid(json.load(open(sys.argv[2])))
