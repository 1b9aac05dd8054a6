# Probe (README.md): per round, how many benign / malicious clients had |detect_spectral_group z| >= THR
# in each of the last K rounds. Usage: probe_persistence.py SCAN/rounds.jsonl K THR
import json, numpy as np, sys
path=sys.argv[1]; K=int(sys.argv[2]); thr=float(sys.argv[3])
hist=[]; mal=set(); out=[]
for l in open(path):
    r=json.loads(l); t=r['round']; mal|=set(r['malicious'])
    z=r['scores'].get('detect_spectral_group')
    if z is None: hist.append({}); continue
    hist.append({i:abs(v) for i,v in zip(r['client_ids'],z) if v is not None})
    if len(hist)>=K:
        sets=[set(i for i,v in h.items() if v>=thr) for h in hist[-K:]]
        inter=set.intersection(*sets)
        out.append((t,len([i for i in inter if i not in mal]),len([i for i in inter if i in mal])))
b=[x[1] for x in out]; a=[x[2] for x in out]
print(f'K={K} thr={thr}: benign persistent per round: max {max(b)} mean {np.mean(b):.2f} hist {np.bincount(b)} | mal: mean {np.mean(a):.2f} first rounds', [x[2] for x in out[:40]])
