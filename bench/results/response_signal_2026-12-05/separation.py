import numpy as np, sys
a=np.load(sys.argv[1]); col=int(sys.argv[2]); mode=sys.argv[3] if len(sys.argv)>3 else 'meanz'
t=a[:,0].astype(int); cid=a[:,1].astype(int); mal=a[:,2].astype(bool); v=a[:,col]
def rz(x):
    med=np.median(x); mad=1.4826*np.median(abs(x-med))*len(x)/(len(x)-0.8); return (x-med)/max(mad,1e-12)
z=np.zeros_like(v)
for r in np.unique(t): s=t==r; z[s]=rz(v[s])
def auc(p,n): p=np.asarray(p); n=np.asarray(n); return np.mean(p[:,None]>n[None,:])+0.5*np.mean(p[:,None]==n[None,:])
lam=0.1
out=[]
for upto in (3,5,10,15,20,30,40,60,80,99):
    sel=t<=upto; ids=np.unique(cid[sel])
    if mode=='meanz': st=np.array([z[sel&(cid==i)].mean() for i in ids])
    elif mode=='stouffer': st=np.array([z[sel&(cid==i)].sum()/np.sqrt((sel&(cid==i)).sum()) for i in ids])
    elif mode=='ewma':
        st=[]
        for i in ids:
            e=0;w=0
            for x in z[sel&(cid==i)]: e=(1-lam)*e+lam*x; w=(1-lam)*w+lam
            st.append(e/w)
        st=np.array(st)
    m=np.array([mal[sel&(cid==i)][0] for i in ids]) if mal.any() else np.zeros(len(ids),bool)
    zz=rz(st)
    if m.any(): print(f'{mode} 1..{upto:2d}: AUC {auc(st[m],st[~m]):.2f}; flippers z {np.round(np.sort(zz[m]),1)}; benign max z {zz[~m].max():.1f} 2nd {np.sort(zz[~m])[-2]:.1f}')
    else: print(f'{mode} 1..{upto:2d}: benign top z {np.round(np.sort(zz)[-4:],1)}')
