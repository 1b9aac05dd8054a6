import json,sys,math,collections
import numpy as np
rows=[json.loads(l) for l in open(sys.argv[1])]
allz=[]; per=collections.defaultdict(list); ratios=[]
skew=[]; semis=[]
for r in rows:
    z=np.array([x if x is not None else np.nan for x in r['scores']['detect_norm']],float)
    nm=np.array(r['scores']['norm'],float)
    ln=np.log(nm); med=np.median(ln); mad=1.4826*np.median(abs(ln-med))
    up=ln[ln>med]-med; lo=med-ln[ln<med]
    semis.append((1.4826*np.median(up)/mad, 1.4826*np.median(lo)/mad, mad))
    allz+=list(z[~np.isnan(z)])
    for i,c in enumerate(r['client_ids']): per[c].append((z[i], nm[i]/np.exp(med)))
allz=np.array(allz)
print('rounds',len(rows),'z quantiles', np.percentile(allz,[0.1,1,5,50,95,99,99.9]).round(2))
print('frac z>3.2', (allz>3.2).mean(), 'z<-3.2', (allz<-3.2).mean())
s=np.array(semis); print('upper semiMAD/MAD median %.2f  lower %.2f  MAD(log) median %.3f min %.3f max %.3f'%(np.median(s[:,0]),np.median(s[:,1]),np.median(s[:,2]),s[:,2].min(),s[:,2].max()))
for rr in [0,1,5,20,50,99]:
    print('round',rr,'semi up/lo/mad',s[rr].round(3))
top=sorted(per, key=lambda c: -np.nanmean([a for a,b in per[c]]))[:10]
for c in top:
    zz=np.array([a for a,b in per[c]]); rt=np.array([b for a,b in per[c]])
    print(c,'z mean %.1f min %.1f max %.1f'%(np.nanmean(zz),np.nanmin(zz),np.nanmax(zz)),'ratio med %.2f min %.2f max %.2f'%(np.median(rt),rt.min(),rt.max()), 'first5 z',zz[:5].round(1))
