#!/usr/bin/env python3
"""Pairwise coherence of the clients' update differences over rounds, from a simulator update log.

For each pair (i, j): D_H^2 = |sum_t (u_it - u_jt)|^2 (the squared distance of their cumulative
histories, in full d-space, every logged round counted) and S = sum_t |u_it - u_jt|^2; kappa =
D_H^2 / S is about 1 when the per-round differences are independent (copies under fresh noise) and
grows like R times the persistent share of the difference otherwise (clients with their own data).
Prints kappa over all pairs and the eight pairs closest in their histories (normalised distance).

  kappa.py LOG_DIR ROUNDS
"""
import json,struct,sys,numpy as np
log=sys.argv[1]; R=int(sys.argv[2])
def load(t):
    raw=open(f"{log}/round_{t:06d}.safetensors","rb").read()
    n=struct.unpack("<Q",raw[:8])[0]; h=json.loads(raw[8:8+n]); u=h["updates"]; s,e=u["data_offsets"]
    x=np.frombuffer(raw[8+n+s:8+n+e],dtype=np.float32).reshape(u["shape"]).astype(np.float64)
    ids=h["__metadata__"]["client_ids"]; ids=json.loads(ids) if isinstance(ids,str) else ids
    return x,ids
H=None;S=None
for t in range(R):
    x,ids=load(t)
    if H is None: H=np.zeros_like(x); S=np.zeros((len(ids),len(ids))); ids0=ids
    assert ids==ids0
    H+=x
    G=x@x.T; nn=np.diag(G); S+=nn[:,None]+nn[None,:]-2*G
GH=H@H.T; hn=np.diag(GH); DH=hn[:,None]+hn[None,:]-2*GH
rho=np.sqrt(np.maximum(DH,0)/((hn[:,None]+hn[None,:])/2))
kap=DH/np.where(S>0,S,1)
n=len(ids0); iu=np.triu_indices(n,1)
print('R',R,'kappa over pairs: min %.2f p1 %.2f median %.2f'%(kap[iu].min(),np.percentile(kap[iu],1),np.median(kap[iu])))
order=np.argsort(rho[iu])[:8]
for o in order:
    i,j=iu[0][o],iu[1][o]; print(ids0[i],ids0[j],'H-rho %.3f kappa %.2f'%(rho[i,j],kap[i,j]))
