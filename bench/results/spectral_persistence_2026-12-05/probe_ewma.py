# Probe (README.md): each client's exponentially weighted mean of |detect_spectral_group z| (rate
# LAMBDA); the three largest benign and three smallest malicious, every fifth round.
# Usage: probe_ewma.py SCAN/rounds.jsonl LAMBDA
import json, numpy as np, sys
path=sys.argv[1]; lam=float(sys.argv[2]) if len(sys.argv)>2 else 0.2
ew={}; wt={}; mal=set(); rows=[]
for l in open(path):
    r=json.loads(l); t=r['round']; mal|=set(r['malicious'])
    z=r['scores'].get('detect_spectral_group')
    if z is None: continue
    for i,v in zip(r['client_ids'],z):
        if v is None: continue
        ew[i]=(1-lam)*ew.get(i,0)+lam*abs(v); wt[i]=(1-lam)*wt.get(i,0)+lam
    vals={i:ew[i]/wt[i] for i in ew}
    b=sorted((v for i,v in vals.items() if i not in mal),reverse=True)
    a=sorted((v for i,v in vals.items() if i in mal),reverse=True)
    rows.append((t,b[:3],a[-3:] if a else []))
for t,b,a in rows[::5]:
    print(t,'benign top3',' '.join(f'{x:.2f}' for x in b),'| mal lowest3',' '.join(f'{x:.2f}' for x in a))
