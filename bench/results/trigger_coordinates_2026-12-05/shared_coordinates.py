"""Per run directory (RUN/log as in share_by_run.py), rounds 10, 20, 40: each client's set of
anomalous first-layer coordinates (|x| > 20x the coordinate's median |x|), the Jaccard overlap
with every other client's set, and per client its third-largest overlap (a group of four sharing
its anomalies); printed as the largest honest and the smallest malicious value.
Usage: python3 shared_coordinates.py RUN [RUN ...]"""
import json,struct,sys,numpy as np
from round_file import load
for d in sys.argv[1:]:
    out=[]
    for rnd in (10,20,40):
        X,mal=load(f"{d}/log/round_{rnd:06d}.safetensors")
        W1=X[:,:50176]
        s=np.median(np.abs(W1),axis=0)
        A=(np.abs(W1)>20*(s+1e-12)).astype(np.float64)   # anomalous coordinate sets
        inter=A@A.T; sizes=A.sum(1); union=sizes[:,None]+sizes[None,:]-inter
        J=np.where(union>0, inter/np.maximum(union,1), 0); np.fill_diagonal(J,0)
        # per client: its 3rd-largest Jaccard with another client (a group of 4 shares its anomalies)
        third=np.sort(J,axis=1)[:,-3]
        h=third[~mal]; m=third[mal] if mal.any() else np.array([np.nan])
        out.append("r%d hon max %.3f mal min %.3f"%(rnd,h.max(),np.nanmin(m)))
    print(d.split('/')[-1]," | ".join(out))
