import os
import numpy as np, sys
from scipy import stats
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)),'variants.py')).read().split('cut=float')[0])
def ccut(alpha,n): nu=max(3,0.55*(n-1)); return stats.t.ppf(1-alpha,nu)
def gcut(g,n,alpha):
    nu=max(3,0.55*(n-1))
    lo,hi=np.log(1e-300),np.log(0.5)
    if stats.binom.sf(g-1,n,0.5)<=alpha: return stats.t.ppf(0.5,nu)
    for _ in range(100):
        mid=0.5*(lo+hi)
        if stats.binom.sf(g-1,n,np.exp(mid))<=alpha: lo=mid
        else: hi=mid
    return stats.t.ppf(1-np.exp(lo),nu)
FLOOR=lambda m: 2.0
def evaluate(f,var,a1,ag,minr=3):
    t,cid,mal,v=load(f,var)
    z=np.zeros_like(v)
    for r in np.unique(t): s=t==r; z[s]=rz(v[s])
    csum={}; cw={}; ccnt={}; malids=set(cid[mal]); fp=tp=nb=nm=0; fpc={}
    gc={}
    for r in range(1,t.max()+1):
        s=t==r
        for i,x in zip(cid[s],z[s]):
            # the mean over every round (LAM 0), or a bias-corrected EWMA at rate LAM
            lam=LAM if LAM>0 else 1.0/(ccnt.get(i,0)+1)
            csum[i]=(1-lam)*csum.get(i,0)+lam*x; cw[i]=(1-lam)*cw.get(i,0)+lam; ccnt[i]=ccnt.get(i,0)+1
        ids=[i for i in csum if ccnt[i]>=minr]
        if len(ids)<8: continue
        m=len(ids); zz=rz(np.array([csum[i]/cw[i] for i in ids]))
        fire=zz>=ccut(a1,m)
        if ag>0:
            order=np.argsort(-zz); best=1; G=0
            for g in range(3,int(0.5*(m-1))+1):
                last=zz[order[g-1]]
                if last<FLOOR(m): break
                if (m,g) not in gc: gc[(m,g)]=gcut(g,m,ag)
                if last/gc[(m,g)]>best: best=last/gc[(m,g)]; G=g
            fire[order[:G]]=True
        mm=np.array([i in malids for i in ids])
        fp+=(fire&~mm).sum(); nb+=(~mm).sum(); tp+=(fire&mm).sum(); nm+=mm.sum()
    return f'FPR {100*fp/nb:.2f}%' + (f' TPR {100*tp/nm:.0f}%' if nm else '')
LAM=float(sys.argv[4]) if len(sys.argv)>4 else 0.0
import os
if os.environ.get('MEMBER_FLOOR'): FLOOR=lambda m: ccut(0.002,m)
a1=float(sys.argv[1]); ag=float(sys.argv[2]); var=sys.argv[3]
for f in ('resp_sf05','resp_sf01','resp_n05','resp_n01','resp_m05','resp_m01'):
    print(f, var, a1, ag, evaluate(f+'.npy',var,a1,ag))
