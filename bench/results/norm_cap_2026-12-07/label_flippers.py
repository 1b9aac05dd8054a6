import json, collections, sys
# The label flippers' rejections by kind, and four flippers' trajectories (norm ratio / z, the
# code: C = above the cap, no = norm z, sp = spectral group, di = direction, si = sign; b = the
# client's norm baseline; acc = accepted, with its norm z).
for path in sys.argv[1:]:
    rows=[json.loads(l) for l in open(path)]
    mal=set(rows[0]['malicious'])
    kinds=collections.Counter(); total=0
    for r in rows:
        total+=len(r['malicious'])
        for rj in r['rejections']:
            if rj['id'] in mal:
                k=rj['code']
                if k=='norm_outlier': k='norm_cap' if 'above the cap' in rj['detail'] else ('norm_up' if rj['values']['norm_z']>0 else 'norm_low')
                kinds[k]+=1
    print(path, 'flippers named %d of %d client-rounds'%(sum(kinds.values()),total), kinds.most_common())
rows=[json.loads(l) for l in open(sys.argv[1])]
for cid in sorted(set(rows[0]['malicious']),key=lambda x:int(x[1:]))[:4]:
    out=[]
    for r in rows[:60]:
        i=r['client_ids'].index(cid); z=r['scores']['detect_norm'][i]
        rej=[x for x in r['rejections'] if x['id']==cid]
        if rej:
            v=rej[0]['values']; tag='C' if 'above the cap' in rej[0]['detail'] else rej[0]['code'][:2]
            out.append(f"{r['round']}:{v.get('norm_ratio',0):.1f}/{v['norm_z']:.1f}{tag}b{v.get('norm_baseline',0):.1f}")
        else: out.append(f"{r['round']}:acc{z:.1f}")
    print(cid,' '.join(out))
