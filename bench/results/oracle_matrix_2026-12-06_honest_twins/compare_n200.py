"""Cell by cell, stored matrices (OLD/SETTING/policies_matrix.json) against a new run (NEW/SETTING/policies/matrix.json,
NEW/SETTING/oracle/matrix.json). Usage: compare_n200.py OLD NEW SETTING..."""
import json, sys, glob, os
# compare.py OLD_DIR NEW_DIR setting(s): cell by cell final acc, mean tpr, fpr, asr
old, new = sys.argv[1], sys.argv[2]
for setting in sys.argv[3:]:
    po = json.load(open(f'{old}/{setting}/policies_matrix.json' if os.path.exists(f'{old}/{setting}/policies_matrix.json') else f'{old}/{setting}/policies/matrix.json'))
    pn = json.load(open(f'{new}/{setting}/policies/matrix.json'))
    on = json.load(open(f'{new}/{setting}/oracle/matrix.json'))
    oracle = [c for c in on['cells'] if c['attack'] == 'none'][0]['summary']['final_accuracy']
    co = {c['attack']: c for c in po['cells']}
    same = 0
    for c in pn['cells']:
        a = c['attack']; o = co[a]
        so, sn = o['summary'], c['summary']
        ident = o.get('accuracy_per_round') == c.get('accuracy_per_round') and o.get('accuracy_per_round') is not None and so['final_accuracy'] == sn['final_accuracy'] and so['mean_fpr'] == sn['mean_fpr']
        same += ident
        f = lambda x: '-' if x is None else f'{100*x:.2f}'
        print(f"{setting:22s} {a:16s} acc {f(so['final_accuracy'])} -> {f(sn['final_accuracy'])} (gap {100*(sn['final_accuracy']-oracle):+.2f}) tpr {f(so['mean_tpr'])} -> {f(sn['mean_tpr'])} fpr {f(so['mean_fpr'])} -> {f(sn['mean_fpr'])} asr {f(so.get('final_attack_success'))} -> {f(sn.get('final_attack_success'))} {'SAME' if ident else ''}")
    print(setting, 'identical cells', same, 'of', len(pn['cells']), 'oracle', oracle)
