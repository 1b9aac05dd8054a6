import json, sys
def cells(p): return {c['attack']: c['summary'] for c in json.load(open(p))['cells']}
o, n = cells(sys.argv[1]), cells(sys.argv[2])
f = lambda x: '   -' if x is None else f'{100*x:5.2f}'
for a, sn in n.items():
    so = o.get(a)
    if not so: continue
    print(f"{a:16s} acc {f(so['final_accuracy'])} -> {f(sn['final_accuracy'])}  tpr {f(so['mean_tpr'])} -> {f(sn['mean_tpr'])}  fpr {f(so['mean_fpr'])} -> {f(sn['mean_fpr'])}  asr {f(so.get('final_attack_success'))} -> {f(sn.get('final_attack_success'))}")
