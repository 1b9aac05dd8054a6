# The honest rejections of a `fedguard scan` (rounds.jsonl) by kind (the norm split into its
# upper tail, its lower tail and the cap; the sign balance by side) and the 15 clients most often
# rejected: honest_rejections_by_kind.py SCAN/rounds.jsonl
import json, collections, sys
rows=[json.loads(l) for l in open(sys.argv[1])]
by_code=collections.Counter(); by_client=collections.Counter(); kind=collections.Counter()
per_client_kind=collections.defaultdict(collections.Counter)
total=0; rej=0
for r in rows:
    mal=set(r['malicious'])
    for rj in r['rejections']:
        if rj['id'] in mal: continue
        rej+=1
        c=rj['code']; v=rj['values']
        k=c
        if c=='norm_outlier':
            z=v.get('norm_z',0); ratio=v.get('norm_ratio',0)
            k='norm_up' if z>0 else 'norm_low'
            if 'above the cap' in rj['detail']: k='norm_cap'
        if c=='sign_outlier':
            k='sign_up' if v.get('sign_z',0)>0 else 'sign_low'
        kind[k]+=1; by_client[rj['id']]+=1; per_client_kind[rj['id']][k]+=1
    total+=r['n']-len(mal)
print('honest rejections',rej,'of',total, '%.2f%%'%(100*rej/total))
print(kind.most_common())
for c,n in by_client.most_common(15): print(c,n,dict(per_client_kind[c]))
