# Both policies of a matrix (cap_off, cap_on) cell by cell: accuracy, backdoor success, TPR,
# FPR (%). compare.py MATRIX.json...
import json, sys
def load(path):
    m=json.load(open(path)); return {(c['policy'],c['attack']):c['summary'] for c in m['cells']}
f=lambda x,k: '-' if x[k] is None else '%.2f'%(100*x[k])
for path in sys.argv[1:]:
    a=load(path)
    for att in dict.fromkeys(k[1] for k in a):
        o=a[('cap_off',att)]; g=a[('cap_on',att)]
        print(path.split('/')[0], '%-16s'%att, 'acc', f(o,'final_accuracy'), f(g,'final_accuracy'), '| asr', f(o,'final_attack_success'), f(g,'final_attack_success'), '| tpr', f(o,'mean_tpr'), f(g,'mean_tpr'), '| fpr', f(o,'mean_fpr'), f(g,'mean_fpr'))
