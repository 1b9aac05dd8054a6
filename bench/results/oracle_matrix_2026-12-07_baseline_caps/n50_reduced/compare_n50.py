import json,sys,os
R='/work/main/bench/results'
f=lambda v:'-' if v is None else f'{100*v:.2f}'
for a in ('0.1','0.5'):
  for s in (1,2,3):
    p=f'/tmp/N5/a{a}/s{s}/policies/matrix.json'
    if not os.path.exists(p): continue
    new=json.load(open(p))
    old=json.load(open(f'{R}/oracle_matrix_2026-12-06_honest_twins/n50_alpha0.1_reduced/E2_s{s}.json' if a=='0.1' else f'{R}/oracle_matrix_2026-12-06_lent_direction/n50_alpha0.5_seed{s}/policies_matrix.json'))
    oc={c['attack']:c for c in old['cells']}
    for c in new['cells']:
      x=oc[c['attack']]; sa,sb=x['summary'],c['summary']
      same = x['accuracy_per_round']==c['accuracy_per_round'] and sa['mean_fpr']==sb['mean_fpr']
      print(f"alpha {a} seed {s} {c['attack']:16s} acc {f(sa['final_accuracy'])} -> {f(sb['final_accuracy'])} tpr {f(sa['mean_tpr'])} -> {f(sb['mean_tpr'])} fpr {f(sa['mean_fpr'])} -> {f(sb['mean_fpr'])} asr {f(sa.get('final_attack_success'))} -> {f(sb.get('final_attack_success'))} {'SAME' if same else ''}")
