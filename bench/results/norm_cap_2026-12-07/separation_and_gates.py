import json, math, statistics as st, sys
def load(paths, want_mal):
    out=[]
    for path in paths:
        for l in open(path):
            r=json.loads(l)
            if r['round']<10: continue
            mal=set(r['malicious']); ids=r['client_ids']
            norms=r['scores']['norm']; med=st.median(norms)
            for i,c in enumerate(ids):
                if (c in mal)!=want_mal: continue
                if norms[i]/med<=3: continue
                d={k:v[i] for k,v in r['scores'].items()}; d['acc']=r['accepted'][i]
                out.append(d)
    return out
pre=sys.argv[1]
F=load([f'{pre}_label_flip_s{s}/rounds.jsonl' for s in (1,2,3)],True)
H=load([f'{pre}_none_s{s}/rounds.jsonl' for s in (1,2,3)],False)+load([f'{pre}_label_flip_s{s}/rounds.jsonl' for s in (1,2,3)],False)
print(len(F),len(H))
def auc(a,b):
    a=[x for x in a if x is not None and math.isfinite(x)]; b=[x for x in b if x is not None and math.isfinite(x)]
    if not a or not b: return None,len(a),len(b)
    s=0
    for x in a:
        for y in b: s+= 1 if x>y else 0.5 if x==y else 0
    return s/len(a)/len(b),len(a),len(b)
def q(v):
    v=sorted(x for x in v if x is not None and math.isfinite(x))
    return '-' if not v else '%.2f/%.2f/%.2f'%(v[len(v)//10],v[len(v)//2],v[9*len(v)//10])
for k in sorted(set().union(*[set(x) for x in F+H])):
    fa=[x.get(k) for x in F]; ha=[x.get(k) for x in H]
    a,na,nb=auc(fa,ha)
    print('%-28s AUC(F>H) %s  F %s (n=%d)  H %s (n=%d)'%(k, a if a is None else '%.3f'%a, q(fa),na, q(ha),nb))
import sys
sys.path.insert(0,'/work/main/build/python')
from math import expm1, log1p
def cut(n):  # the collusion-type cut: Sidak over n-1 comparisons of 0.002, one-sided, t with 0.55(n-1) df
    import scipy.stats as ss
    a=-expm1(log1p(-0.002)/(n-1)); return ss.t.ppf(1-a, max(3,0.55*(n-1)))
N=int(sys.argv[2]); c=cut(N); print('cut',c)
for name,S in (('F',F),('H',H)):
    g1=sum(1 for x in S if x['detect_collusion'] is not None and x['detect_collusion']>=-c)
    g2=sum(1 for x in S if x['detect_collusion'] is not None and x['detect_collusion']>=-c and (x.get('detect_history') is None or x['detect_history']>=-c))
    print(name, len(S), 'pass collusion gate %.3f'%(g1/len(S)), 'pass both %.3f'%(g2/len(S)))
for t in (1.5,2,2.5,3,3.5,4,c):
    r=[]
    for name,S in (('F',F),('H',H)):
        g=sum(1 for x in S if x['detect_collusion'] is not None and x['detect_collusion']>=-t)
        r.append('%s %.3f'%(name,g/len(S)))
    print('gate -%.2f'%t, *r)
