# Offline replay: a tail group on the per-round direction signal (cut_with_tail_group replica).
import json, sys, math
from scipy.stats import binom, t as tdist
MIN_G, FLOOR = 3, 2.0
cache = {}
def group_cut(g, n, alpha):
    key = (g, n, alpha)
    if key in cache: return cache[key]
    nu = max(3.0, 0.55 * (n - 1))
    if binom.sf(g - 1, n, 0.5) <= alpha: c = tdist.ppf(0.5, nu)
    else:
        lo, hi = math.log(1e-300), math.log(0.5)
        for _ in range(100):
            mid = (lo + hi) / 2
            if binom.sf(g - 1, n, math.exp(mid)) <= alpha: lo = mid
            else: hi = mid
        c = tdist.isf(math.exp(lo), nu)
    cache[key] = c
    return c
def groups(z, alpha, cap):
    order = sorted(range(len(z)), key=lambda i: -z[i]); m = len(z); out = set()
    start = 0; limit = min(cap, m - 1)
    while start < limit:
        best, bg = 1, 0
        for g in range(MIN_G, limit - start + 1):
            last = z[order[start + g - 1]]
            if not last >= FLOOR: break
            c = group_cut(g, m, alpha)
            if last / c > best: best, bg = last / c, g
        if bg == 0: break
        out |= set(order[start:start + bg]); start += bg
    return out
def run(path, alpha, key='detect_direction'):
    tp = fp = npos = nneg = extra_fp = extra_tp = 0
    for line in open(path):
        r = json.loads(line)
        ids = r['client_ids']; mal = set(r['malicious']); v = r['scores'].get(key)
        rej = set(r.get('rejected_ids', []))
        if v is None: continue
        idx = [i for i, x in enumerate(v) if x is not None]
        z = [v[i] for i in idx]
        g = groups(z, alpha, int(0.5 * (len(z) - 1)))
        named = {ids[idx[q]] for q in g}
        for c in ids:
            isrej = c in rej or c in named
            if c in mal: npos += 1; tp += isrej; extra_tp += (c in named and c not in rej)
            else: nneg += 1; fp += isrej; extra_fp += (c in named and c not in rej)
    return tp / max(npos, 1), fp / nneg, extra_tp, extra_fp
if __name__ == "__main__":
  for alpha in [float(a) for a in sys.argv[2:]]:
      for p in sys.argv[1].split(','):
          print(alpha, p.split('/')[-2] if 'scan' in p.split('/')[-1] else p, '%.3f %.4f +tp %d +fp %d' % run(p + '/rounds.jsonl', alpha))
