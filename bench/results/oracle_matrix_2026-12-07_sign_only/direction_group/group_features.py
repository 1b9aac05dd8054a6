# For every round in which the group search fires (replayed, p = 1e-7), the median z of the other
# signals over the group's members / over everyone else. Output: group_features.txt.
import json, math, statistics as st
import replay_offline as replay  # beside this file
def feats(path, alpha=1e-7, maxr=100):
    rows=[]
    for line in open(path):
        r=json.loads(line); ids=r['client_ids']; mal=set(r['malicious']); S=r['scores']; v=S.get('detect_direction')
        if v is None: continue
        idx=[i for i,x in enumerate(v) if x is not None]; z=[v[i] for i in idx]
        g=replay.groups(z, alpha, int(0.5*(len(z)-1)))
        if not g: continue
        mem=[idx[q] for q in g]; non=[i for i in idx if i not in mem]
        f={'round':r['round'],'g':len(mem),'mal':sum(ids[i] in mal for i in mem)}
        for k in ['detect_spectral_group','detect_sign','detect_norm','detect_collusion','detect_history_direction','detect_history_group','detect_history']:
            if k in S:
                a=[S[k][i] for i in mem if S[k][i] is not None]; b=[S[k][i] for i in non if S[k][i] is not None]
                if a and b: f[k.replace('detect_','')]='%.1f/%.1f'%(st.median(a),st.median(b))
        rows.append(f)
    return rows
import sys
for p in sys.argv[1:]:
    rs=feats(p+'/rounds.jsonl'); print(p, len(rs),'rounds with a group')
    for f in rs[::max(1,len(rs)//8)]: print('  ',f)
