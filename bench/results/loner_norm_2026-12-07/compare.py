#!/usr/bin/env python3
"""loner_norm_cap (on) against the default before it (the direction-group record's cells, the same
VM, kernel, seeds and engine but for this change), cell by cell: accuracy, backdoor success, TPR,
FPR. compare.py [DIR]: DIR holds the simulator's out dirs (default: this record's matrices/)."""
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__)) + '/'
B = HERE + '../direction_group_alignment_2026-12-07/'
E = sys.argv[1] if len(sys.argv) > 1 else HERE + 'matrices/'


def out(name):
    return E + name + '/matrix.json' if os.path.isdir(E + name) else E + name + '.json'


def cells(path, policy=None):
    m = json.load(open(path))
    return {c['attack']: c['summary'] for c in m['cells'] if policy is None or c['policy'] == policy}


def pct(v):
    return '-' if v is None else '%.1f' % (100 * v)


def row(name, a, b):
    return '| %s | %s / %s | %s / %s | %s / %s | %.2f / %.2f |' % (
        name, pct(a['final_accuracy']), pct(b['final_accuracy']),
        pct(a.get('final_attack_success')), pct(b.get('final_attack_success')),
        pct(a.get('mean_tpr')), pct(b.get('mean_tpr')), 100 * a['mean_fpr'], 100 * b['mean_fpr'])


settings = []
for s in (1, 2, 3):
    settings.append(('n = 200, alpha 0.1, seed %d' % s, B + 'matrices/n200_a0.1_s%d.json' % s, 'dg', 'n200_a0.1_s%d' % s))
    settings.append(('n = 200, alpha 0.1, seed %d (more attacks)' % s, B + 'matrices/rest_n200_a0.1_s%d.json' % s, 'dg', 'rest_n200_a0.1_s%d' % s))
settings.append(('n = 200, alpha 0.5, seed 1', B + 'matrices/n200_a0.5_s1.json', 'dg', 'n200_a0.5_s1'))
for s in (2, 3):
    settings.append(('n = 200, alpha 0.5, seed %d' % s, B + 'n200_alpha0.5_seeds23/seed%d.json' % s, None, 'n200_a0.5_s%d' % s))
for a in ('0.1', '0.5'):
    for s in (1, 2, 3):
        settings.append(('n = 50, alpha %s, seed %d' % (a, s), B + 'matrices/n50_a%s_s%d.json' % (a, s), 'dg', 'n50_a%s_s%d' % (a, s)))
for name, base, pol, new in settings:
    if not os.path.exists(out(new)):
        continue
    b = cells(base, pol)
    n = cells(out(new), 'loner')
    print('\n#### %s\n' % name)
    print('| attack | accuracy % (before / loners) | backdoor success % | TPR % | FPR % |')
    print('| --- | --: | --: | --: | --: |')
    for k in n:
        if k in b:
            print(row(k, b[k], n[k]))
