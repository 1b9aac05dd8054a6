"""Per run directory (RUN/log holds a fedguard update log of the simulator's MLP), rounds 5-60:
the largest and second-largest honest share of a client's energy in first-layer coordinates
where it exceeds 20x the coordinate's median |x| over the round's clients, and the smallest
malicious share (nan without attackers). Usage: python3 share_by_run.py RUN [RUN ...]"""
import json,struct,sys,numpy as np
from round_file import load
for d in sys.argv[1:]:
    out=[]
    for rnd in (5,10,20,30,40,60):
        X,mal=load(f"{d}/log/round_{rnd:06d}.safetensors")
        W1=X[:,:50176]; tot=(X**2).sum(1)
        s=np.median(np.abs(W1),axis=0)
        big=((W1**2)*(np.abs(W1)>20*(s+1e-12))).sum(1)/tot
        h=big[~mal]; m=big[mal] if mal.any() else np.array([np.nan])
        out.append("r%d hon max %.3f (2nd %.3f) mal min %.3f"%(rnd,h.max(),np.sort(h)[-2],np.nanmin(m)))
    print(d.split('/')[-1]," | ".join(out))
