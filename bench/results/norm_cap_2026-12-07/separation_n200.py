import json, math, statistics as st, sys
def load(path, want_mal):
    out=[]
    for l in open(path):
        r=json.loads(l)
        if r['round']<10: continue
        mal=set(r['malicious']); ids=r['client_ids']
        norms=r['scores']['norm']; med=st.median(norms)
        for i,c in enumerate(ids):
            if (c in mal)!=want_mal: continue
            if norms[i]/med<=3: continue
            out.append({k:v[i] for k,v in r['scores'].items()})
    return out
F=load('scan_lf_on/rounds.jsonl',True)
H=load('scan_s1_on/rounds.jsonl',False)+load('scan_s2_pol/rounds.jsonl',False)+load('scan_s3_pol/rounds.jsonl',False)+load('scan_lf_on/rounds.jsonl',False)
print(len(F),len(H))
def auc(a,b):
    a=[x for x in a if x is not None and math.isfinite(x)]; b=[x for x in b if x is not None and math.isfinite(x)]
    if not a or not b: return None,len(a),len(b)
    s=0
    for x in a:
        for y in b: s+= 1 if x>y else 0.5 if x==y else 0
    return s/len(a)/len(b),len(a),len(b)
keys=sorted(set(F[0])|set(H[0]))
for k in sorted(set().union(*[set(x) for x in F+H])):
    fa=[x.get(k) for x in F]; ha=[x.get(k) for x in H]
    a,na,nb=auc(fa,ha)
    def q(v):
        v=sorted(x for x in v if x is not None and math.isfinite(x)); 
        return '-' if not v else '%.2f/%.2f/%.2f'%(v[len(v)//10],v[len(v)//2],v[9*len(v)//10])
    print('%-32s AUC(F>H) %s  F %s (n=%d)  H %s (n=%d)'%(k, a if a is None else '%.3f'%a, q(fa),na, q(ha),nb))
