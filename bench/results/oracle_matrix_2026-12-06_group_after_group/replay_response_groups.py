"""Replays the response signal's group search in its upper tail on a `fedguard scan` rounds.jsonl
(the scores detect_history_response are the clients' mean response z's; the z is recomputed over
the clients stage A kept) under three rules: max_ratio (the g furthest past its cut: the rule
before 2026-12-06, later), largest (the largest g that passes: a step-up rule, tried and not
adopted), peel (max_ratio, then again after that group until none passes: the rule now).
Counts the client-rounds the groups hold, malicious and honest. Open loop: the verdicts of the
scanned engine fed the response state, so only max_ratio matches that engine's rounds.

Usage: replay_response_groups.py SCAN/rounds.jsonl [v]
"""
import json, sys, numpy as np
from scipy import stats, optimize
STAGE_A = {'norm_outlier', 'collusion', 'history_outlier', 'history_group'}
cache = {}
def gcut(g, n, alpha):
    key = (g, n, alpha)
    if key in cache: return cache[key]
    nu = max(3.0, 0.55 * (n - 1))
    f = lambda lq: stats.binom.sf(g - 1, n, np.exp(lq)) - alpha
    if f(np.log(0.5)) <= 0: c = stats.t.ppf(0.5, nu)
    else:
        lq = optimize.brentq(f, np.log(1e-300), np.log(0.5), xtol=1e-12)
        c = stats.t.ppf(1 - np.exp(lq), nu) if np.exp(lq) > 1e-15 else stats.t.isf(np.exp(lq), nu)
    cache[key] = c; return c
def robust(v, floor):
    med = np.median(v); mad = np.median(np.abs(v - med)); n = len(v)
    scale = max(1.4826 * mad * n / (n - 0.8), floor)
    return (v - med) / scale
def analyse(path, alpha=1e-5, rule='max_ratio', verbose=False):
    tot = dict(mal=0, hon=0, malseen=0, honseen=0)
    for line in open(path):
        r = json.loads(line)
        ids = r['client_ids']; mal = set(r['malicious'])
        s = r['scores'].get('detect_history_response')
        if not s: continue
        rej = {x['client']: x['code'] for x in r['rejections']}
        kept = [i for i in range(len(ids)) if rej.get(i) not in STAGE_A and s[i] is not None]
        if len(kept) < 8: continue
        v = np.array([s[i] for i in kept]); z = robust(v, 0.05); m = len(kept)
        order = np.argsort(-z, kind='stable'); cap = int(np.floor(0.5 * (m - 1)))
        best, G = 1.0, 0; passing = 0
        for g in range(3, min(cap, m - 1) + 1):
            last = z[order[g - 1]]
            if not last >= 2.0: break
            c = gcut(g, m, alpha)
            if last / c > best: best, G = last / c, g
            if last >= c: passing = g
        if rule == 'largest': G = passing
        fired = set(kept[q] for q in order[:G])
        if rule == 'peel':
            start = 0
            fired = set()
            while True:
                best, bg = 1.0, 0
                g = 3
                while start + g <= cap and start + g <= m - 1:
                    last = z[order[start + g - 1]]
                    if not last >= 2.0: break
                    c = gcut(g, m, alpha)
                    if last / c > best: best, bg = last / c, g
                    g += 1
                if bg == 0: break
                fired |= set(kept[q] for q in order[start:start + bg])
                start += bg
            G = len(fired)
        nm = sum(1 for i in fired if ids[i] in mal)
        tot['mal'] += nm; tot['hon'] += len(fired) - nm
        if verbose and r['round'] % 10 == 0:
            print(r['round'], 'G', G, 'passing', passing, 'mal', nm, 'hon', len(fired) - nm,
                  'zmal top', np.round(sorted([z[q] for q in range(m) if ids[kept[q]] in mal])[::-1][:5], 2))
    return tot
if __name__ == '__main__':
    for rule in ('max_ratio', 'largest', 'peel'):
        print(rule, analyse(sys.argv[1], rule=rule, verbose=len(sys.argv) > 2))
