"""Cell by cell, the engine before (E1_s*.json: beaed19's code) and after (E2_s*.json) on the
same machine: n = 50, Dirichlet 0.1, the six attacks of matrix_reduced.json, seeds 1-3; and the
attack-free run of seed 4 (E*_s4_none.json, where two honest twins were named by `history`).
Usage: python3 compare_n50.py [DIR=n50_alpha0.1_reduced]"""
import json, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "n50_alpha0.1_reduced")
f = lambda v: '-' if v is None else f'{100*v:.2f}'
same_total = tot = 0
for s, suffix in (("1", ""), ("2", ""), ("3", ""), ("4", "_none")):
    a = json.load(open(f'{d}/E1_s{s}{suffix}.json')); b = json.load(open(f'{d}/E2_s{s}{suffix}.json'))
    o = json.load(open(f'{d}/oracle_s{s}.json'))['cells'][0]['summary']['final_accuracy']
    ca = {c['attack']: c for c in a['cells']}
    for c in b['cells']:
        x = ca[c['attack']]; sa, sb = x['summary'], c['summary']
        same = x['accuracy_per_round'] == c['accuracy_per_round'] and sa['mean_fpr'] == sb['mean_fpr'] and sa['mean_tpr'] == sb['mean_tpr']
        same_total += same; tot += 1
        print(f"seed {s} {c['attack']:16s} acc {f(sa['final_accuracy'])} -> {f(sb['final_accuracy'])} (oracle {f(o)}) tpr {f(sa['mean_tpr'])} -> {f(sb['mean_tpr'])} fpr {f(sa['mean_fpr'])} -> {f(sb['mean_fpr'])} asr {f(sa.get('final_attack_success'))} -> {f(sb.get('final_attack_success'))} {'SAME' if same else ''}")
print('same', same_total, 'of', tot)
