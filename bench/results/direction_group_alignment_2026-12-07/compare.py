#!/usr/bin/env python3
"""direction_group (1e-7, alignment filter at 0.7) against the default (the norm-cap record's
cap_on cells, same engine otherwise), cell by cell: accuracy, backdoor success, TPR, FPR."""
import json, os, sys
R = '/work/main/bench/results/norm_cap_2026-12-07/'
E = sys.argv[1] if len(sys.argv) > 1 else '/tmp/ev/'  # the out dirs, or this record's matrices/

def out(name):
    """A matrix's result: E/name/matrix.json (the simulator's out dir) or E/name.json (matrices/)."""
    import os
    return E + name + '/matrix.json' if os.path.isdir(E + name) else E + name + '.json'


def cells(path, policy):
    m = json.load(open(path))
    return {c['attack']: c['summary'] for c in m['cells'] if c['policy'] == policy}

def pct(v):
    return '-' if v is None else '%.1f' % (100 * v)

def row(name, a, b):
    return '| %s | %s / %s | %s / %s | %s / %s | %s / %s |' % (
        name, pct(a['final_accuracy']), pct(b['final_accuracy']),
        pct(a.get('final_attack_success')), pct(b.get('final_attack_success')),
        pct(a.get('mean_tpr')), pct(b.get('mean_tpr')), '%.2f' % (100 * a['mean_fpr']), '%.2f' % (100 * b['mean_fpr']))

settings = []
for s in (1, 2, 3):
    settings.append(('n200 alpha 0.1 seed %d' % s, R + 'n200_alpha0.1_seed%d/matrix_gated.json' % s, 'cap_on', out('n200_a0.1_s%d' % s)))
    settings.append(('n200 alpha 0.1 seed %d (rest)' % s, R + 'rest/matrix_seed%d.json' % s, 'cap_on', out('rest_n200_a0.1_s%d' % s)))
settings.append(('n200 alpha 0.5 seed 1', R + 'n200_alpha0.5_seed1/matrix.json', 'cap_on', out('n200_a0.5_s1')))
for a in ('0.1', '0.5'):
    for s in (1, 2, 3):
        settings.append(('n50 alpha %s seed %d' % (a, s), R + 'n50/matrix_alpha%s_seed%d.json' % (a, s), 'cap_on', out('n50_a%s_s%d' % (a, s))))
for name, base, pol, new in settings:
    if not os.path.exists(new):
        continue
    b = cells(base, pol)
    n = cells(new, 'dg')
    print('\n#### %s\n' % name)
    print('| attack | accuracy % (default / direction group) | backdoor success % | TPR % | FPR % |')
    print('| --- | --: | --: | --: | --: |')
    for k in n:
        if k in b:
            print(row(k, b[k], n[k]))
    if 'default' in {c['policy'] for c in json.load(open(new))['cells']}:
        ctl = cells(new, 'default')
        same = all(ctl[k]['final_accuracy'] == b[k]['final_accuracy'] and ctl[k]['mean_fpr'] == b[k]['mean_fpr'] for k in ctl if k in b)
        print('\n(control: this run\'s default policy %s the record\'s cells)' % ('reproduces' if same else 'DIFFERS FROM'))
