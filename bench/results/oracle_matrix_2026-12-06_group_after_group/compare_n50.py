"""Cell by cell, the previous engine (E0_s*.json) against the new (E1_s*.json) on the reduced
n = 50 matrix, with the oracle's accuracy (oracle_s*.json). Usage: compare_n50.py DIR SEED..."""
import json, sys
d = sys.argv[1]
same_total = tot = 0
for s in sys.argv[2:]:
    a = json.load(open(f'{d}/E0_s{s}.json')); b = json.load(open(f'{d}/E1_s{s}.json'))
    o = json.load(open(f'{d}/oracle_s{s}.json'))['cells'][0]['summary']['final_accuracy']
    ca = {c['attack']: c for c in a['cells']}
    for c in b['cells']:
        x = ca[c['attack']]; sa, sb = x['summary'], c['summary']
        same = x['accuracy_per_round'] == c['accuracy_per_round'] and sa['mean_fpr'] == sb['mean_fpr'] and sa['mean_tpr'] == sb['mean_tpr']
        same_total += same; tot += 1
        f = lambda v: '-' if v is None else f'{100*v:.2f}'
        print(f"seed {s} {c['attack']:16s} acc {f(sa['final_accuracy'])} -> {f(sb['final_accuracy'])} (oracle {f(o)}) tpr {f(sa['mean_tpr'])} -> {f(sb['mean_tpr'])} fpr {f(sa['mean_fpr'])} -> {f(sb['mean_fpr'])} asr {f(sa.get('final_attack_success'))} -> {f(sb.get('final_attack_success'))} {'SAME' if same else ''}")
print('same', same_total, 'of', tot)
