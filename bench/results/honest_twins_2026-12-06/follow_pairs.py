# Offline study of followed pairs (docs/detection.md, "Honest twins"): exact d-space
# cumulative updates of an update log; pairs followed once their normalised history distance
# falls below F (default 0.5); per round, the pairs within 0.25 with (ids, rho, rounds followed,
# cumulative persistence |sum d|^2 / sum |d|^2, relative variance v of |d_t|^2).
# Usage: python3 follow_pairs.py LOG_DIR [F]
import json,struct,sys,numpy as np,os
log=sys.argv[1]; F=float(sys.argv[2]) if len(sys.argv)>2 else 0.5
files=sorted(f for f in os.listdir(log) if f.startswith('round_'))
def load(p):
    f=open(p,'rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n)); meta=h['__metadata__']
    t=h['updates']; a=np.frombuffer(f.read(),dtype=np.float32)
    s,e=t['data_offsets']; return np.frombuffer(a.tobytes()[s:e],dtype=np.float32).reshape(t['shape']).astype(np.float64), json.loads(meta['client_ids']), json.loads(meta['malicious'])
H=None; follow={}  # (i,j)->[D, S, S2, R, start]
out=[]
for r,fn in enumerate(files):
    X,ids,mal=load(os.path.join(log,fn))
    H = X.copy() if H is None else H+X
    # update followed pairs
    for (i,j),st in follow.items():
        dt=X[i]-X[j]; st[0]+=dt; q=dt@dt; st[1]+=q; st[2]+=q*q; st[3]+=1
    if r>=1:
        G=H@H.T; nn=np.diag(G); D2=nn[:,None]+nn[None,:]-2*G; rho=np.sqrt(np.maximum(D2,0)/((nn[:,None]+nn[None,:])/2))
        np.fill_diagonal(rho,9)
        for i,j in zip(*np.where(np.triu(rho<F,1))):
            if (i,j) not in follow: follow[(i,j)]=[np.zeros(X.shape[1]),0.0,0.0,0,r]
        close=[(i,j,rho[i,j]) for i,j in zip(*np.where(np.triu(rho<0.25,1)))]
    else: close=[]
    rec={'round':r,'followed':len(follow),'close':[]}
    for i,j,rr in close:
        st=follow[(i,j)]; R=st[3]
        kap=st[0]@st[0]/st[1] if st[1]>0 else float('nan'); v=R*st[2]/st[1]**2-1 if st[1]>0 else float('nan')
        rec['close'].append((ids[i],ids[j],round(rr,3),R,round(kap,2),round(v,3)))
    out.append(rec)
    print(r,len(follow),rec['close'][:6],flush=True)
# summary of all followed pairs at the end
ks=[]
for (i,j),st in follow.items():
    if st[3]>=5: ks.append((st[0]@st[0]/st[1], st[3], ids[i],ids[j]))
ks.sort(); print('lowest kappa among followed pairs:',ks[:10]); print('n followed',len(follow))
