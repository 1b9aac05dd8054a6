import numpy as np, sys
def load(f, var):
    a=np.load(f); t=a[:,0].astype(int); cid=a[:,1].astype(int); mal=a[:,2].astype(bool); r=a[:,4]
    if var=='coef': v=r
    elif var=='pernorm': v=r/(0.5*(a[:,7]+a[:,8]))
    elif var=='cos': v=r/a[:,9]
    elif var=='pernow': v=r/a[:,7]
    return t,cid,mal,v
def rz(x):
    med=np.median(x); mad=1.4826*np.median(abs(x-med))*len(x)/(len(x)-0.8); return (x-med)/max(mad,1e-12)
def run(f,var,cut):
    t,cid,mal,v=load(f,var)
    z=np.zeros_like(v)
    for r in np.unique(t): s=t==r; z[s]=rz(v[s])
    csum={}; ccnt={}; fp=0; nb=0; tp=0; nm=0; tpr_early=[]
    malids=set(cid[mal])
    for r in range(1,t.max()+1):
        s=t==r
        for i,x in zip(cid[s],z[s]): csum[i]=csum.get(i,0)+x; ccnt[i]=ccnt.get(i,0)+1
        ids=[i for i in csum if ccnt[i]>=3]
        if len(ids)<8: continue
        zz=rz(np.array([csum[i]/ccnt[i] for i in ids])); m=np.array([i in malids for i in ids])
        fp+=(zz[~m]>=cut).sum(); nb+=(~m).sum(); tp+=(zz[m]>=cut).sum(); nm+=m.sum()
        if m.any(): tpr_early.append((zz[m]>=cut).mean())
    te=' '.join(f'{x:.1f}' for x in tpr_early[::10]) if tpr_early else ''
    return f'{var:8s} FPR {100*fp/nb:.2f}%' + (f' TPR {100*tp/nm:.0f}% (every 10th round: {te})' if nm else '')
cut=float(sys.argv[1])
for f in sys.argv[2:]:
    for var in ('coef','pernorm','cos','pernow'):
        print(f, run(f,var,cut))
