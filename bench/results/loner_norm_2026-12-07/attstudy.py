import json,sys,collections
import numpy as np
rows=[json.loads(l) for l in open(sys.argv[1])]
def arr(r,k): return np.array([x if x is not None else np.nan for x in r['scores'].get(k,[None]*r['n'])],float)
A=collections.defaultdict(list); H=collections.defaultdict(list)
fired=collections.Counter(); alone=collections.Counter()
for r in rows:
    mal=set(r['malicious']); ids=r['client_ids']
    ism=np.array([c in mal for c in ids])
    nm=np.array(r['scores']['norm']); ratio=nm/np.exp(np.median(np.log(nm)))
    for k in ['detect_norm','detect_collusion','detect_direction']:
        v=arr(r,k); A[k]+=list(v[ism]); H[k]+=list(v[~ism])
    A['ratio']+=list(ratio[ism]); H['ratio']+=list(ratio[~ism])
    for rj in r['rejections']:
        if rj['id'] not in mal: continue
        v=rj['values']; sig=[k[:-4] for k in v if k.endswith('_cut') and not k.endswith('group_cut') and k[:-4]+'_z' in v and abs(v[k[:-4]+'_z'])>v[k]]
        fired[rj['code']]+=1
        if rj['code']=='norm_outlier':
            others=[s for s in sig if s!='norm']
            alone['norm alone' if not others else 'norm+'+','.join(others)]+=1
for k in A:
    a=np.array(A[k]); h=np.array(H[k])
    print(k,'attackers q10/50/90',np.nanpercentile(a,[10,50,90]).round(2),'honest',np.nanpercentile(h,[10,50,90,99]).round(2))
print(fired.most_common()); print(alone.most_common(8))
