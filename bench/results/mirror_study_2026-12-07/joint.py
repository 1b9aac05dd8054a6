# Joint view: the mirror statistic s (k = 10, |cos|-weighted) and the engine's history_response z,
# for the clients the engine accepted (the misses among attackers; the honest it kept).
import sys, json, glob, numpy as np
sys.path.insert(0, 'build/python')
from fedguard.update_log import read_round
logdir, scan = sys.argv[1], sys.argv[2]
rows = {json.loads(l)['round']: json.loads(l) for l in open(scan + '/rounds.jsonl')}
k = 10
out = {'att_acc': [], 'hon_acc': [], 'att_rej': [], 'hon_all': []}
for f in sorted(glob.glob(logdir + '/round_*.safetensors')):
    r = read_round(f); rr = rows[r['round']]
    X = np.asarray(r['updates'], dtype=np.float64); ids = list(r['client_ids'])
    mal = set(rr['malicious'] or [])
    nrm = np.linalg.norm(X, axis=1); C = (X @ X.T) / np.outer(nrm, nrm); np.fill_diagonal(C, 0)
    A = np.abs(C); idx = np.argpartition(-A, k, axis=1)[:, :k]
    c = np.take_along_axis(C, idx, 1); a = np.abs(c); s = (c * a).sum(1) / (a * a).sum(1)
    resp = rr['scores'].get('detect_history_response', [None] * len(ids))
    for i, cid in enumerate(ids):
        z = resp[i] if resp[i] is not None else np.nan
        key = ('att' if cid in mal else 'hon') + ('_acc' if rr['accepted'][i] else '_rej')
        if key in out: out[key].append((s[i], z))
        if cid not in mal: out['hon_all'].append((s[i], z))
for key, v in out.items():
    v = np.array(v)
    if not len(v): continue
    s, z = v[:, 0], v[:, 1]
    line = f"{key}: {len(v)}; s q10/50/90 {np.nanquantile(s,[.1,.5,.9]).round(2)}; resp z q10/50/90 {np.nanquantile(z,[.1,.5,.9]).round(2)}"
    for sc in (-0.2, -0.3, -0.4):
        for zc in (1.0, 1.25, 1.5):
            line += f" | s<{sc}&z>{zc}: {np.mean((s < sc) & (z > zc)):.4f}"
    print(line)
