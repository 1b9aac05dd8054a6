# The first estimate, before the engine change: each cap rejection of a scan replayed with the
# cap widened by exp(b s) (s estimated as log(ratio) / z), spared when the widened cap, the
# widened z cut and no other signal let it through. Open loop (the scan's states as they were):
# seed 1 2.79 -> 2.21%, seed 2 2.09 -> 1.99%. replay_open_loop.py SCAN/rounds.jsonl...
import json, math, sys, collections
LOWER={'direction','collusion','history','history_direction'}
def others_fired(v):
    for k in v:
        if k.endswith('_cut'):
            s=k[:-4]
            if s in ('norm','norm_persistence','history_persistence'): continue
            z=v.get(s+'_z')
            if z is None: continue
            cut=v[k]
            if s in LOWER:
                if z < -cut:
                    if s=='collusion' and not v.get('collusion',1)<0.25: continue
                    if s=='history' and not v.get('history',1)<0.25: continue
                    return s
            elif s=='history_response':
                if z>cut: return s
            elif s in ('spectral_group','history_group','direction_group'): continue
            else:
                if abs(z)>cut: return s
    return None
for path in sys.argv[1:]:
    rows=[json.loads(l) for l in open(path)]
    honest=0; rej_h=0; spared_h=0; rej_m=0; spared_m=0; mal_total=0
    why=collections.Counter()
    for r in rows:
        mal=set(r['malicious']); honest+=r['n']-len(mal); mal_total+=len(mal)
        for rj in r['rejections']:
            ism=rj['id'] in mal
            if ism: rej_m+=1
            else: rej_h+=1
            if rj['code']!='norm_outlier' or 'above the cap' not in rj['detail']: continue
            v=rj['values']; b=max(v.get('norm_baseline',0),0); z=v['norm_z']; ratio=v['norm_ratio']
            if b==0: why['no baseline']+=1; continue
            scale=math.log(ratio)/z
            cap=3*math.exp(b*scale)
            if ratio>=cap: why['above widened cap']+=1; continue
            if z> v['norm_cut']+b: why['above widened z']+=1; continue
            o=others_fired(v)
            if o: why['other '+o]+=1; continue
            if ism: spared_m+=1
            else: spared_h+=1
    print(path, 'honest FPR %.2f%% -> %.2f%%'%(100*rej_h/honest, 100*(rej_h-spared_h)/honest),
          'TPR %s'%('%.1f -> %.1f'%(100*rej_m/mal_total,100*(rej_m-spared_m)/mal_total) if mal_total else '-'), dict(why))
