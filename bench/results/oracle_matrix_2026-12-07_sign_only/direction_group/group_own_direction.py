# For each round where the replayed direction group fires: project every client on the group's own
# direction u = mean(group) - mean(rest), robust z over the rest, and report how the group's lowest
# member stands against the rest's highest (gap ratio) and the count of non-members above 3 z.
import json, struct, sys, numpy as np
sys.path.insert(0, __import__("os").path.dirname(__file__))
import replay_offline as replay  # beside this file
def load(path):
    f = open(path, 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
    meta = h['__metadata__']; t = h['updates']; a, b = t['data_offsets']
    f.seek(base + a); x = np.frombuffer(f.read(b - a), dtype=np.float32).reshape(t['shape'])
    return json.loads(meta['client_ids']), x
def run(scan, log, alpha=1e-7, every=1):
    out = []
    for line in open(scan + '/rounds.jsonl'):
        r = json.loads(line); ids = r['client_ids']; mal = set(r['malicious']); v = r['scores'].get('detect_direction')
        if v is None or r['round'] % every: continue
        idx = [i for i, x in enumerate(v) if x is not None]; z = [v[i] for i in idx]
        g = replay.groups(z, alpha, int(0.5 * (len(z) - 1)))
        if not g: continue
        mem = sorted(idx[q] for q in g); rest = [i for i in idx if i not in mem]
        lids, x = load(f"{log}/{r['file']}")
        assert lids == ids
        x = x.astype(np.float64)
        mr = x[rest].mean(0); u = x[mem].mean(0) - mr; u /= np.linalg.norm(u)
        p = (x - mr) @ u
        pr = p[rest]; med = np.median(pr); mad = 1.4826 * np.median(np.abs(pr - med)) or 1e-12
        zz = (p - med) / mad
        gm = np.sort(zz[mem]); rr = np.sort(zz[rest])
        out.append((r['round'], len(mem), sum(ids[i] in mal for i in mem), gm[0], np.median(gm), rr[-1], int((rr > 3).sum())))
    return out
for scan, log in zip(sys.argv[1::2], sys.argv[2::2]):
    res = run(scan, log)
    print(scan, len(res), 'rounds')
    print('  round g mal | group min/median z | rest max z | rest > 3')
    for o in res[::max(1, len(res) // 10)]:
        print('  %3d %3d %3d | %6.1f %6.1f | %6.1f | %d' % o)
