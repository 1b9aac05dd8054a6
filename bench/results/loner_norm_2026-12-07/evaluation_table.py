#!/usr/bin/env python3
"""docs/evaluation.md's n = 200, Dirichlet 0.1 table of the current default: per attack, the
oracle, the previous default (the direction-group record's dg cells) and this record's loner
cells, seeds 1-3 where run (seed 3 alone for the attacks of m200_rest3)."""
import json
import os
import statistics as st
import sys

HERE = os.path.dirname(os.path.abspath(__file__)) + '/'
B = HERE + '../direction_group_alignment_2026-12-07/matrices/'
O = HERE + '../norm_cap_2026-12-07/oracle/'
E = sys.argv[1] if len(sys.argv) > 1 else HERE + 'matrices/'


def out(name):
    return E + name + '/matrix.json' if os.path.isdir(E + name) else E + name + '.json'


def cells(path, policy):
    return {c['attack']: c['summary'] for c in json.load(open(path))['cells'] if c['policy'] == policy}


old, new, oracle = {}, {}, {}
for s in (1, 2, 3):
    old[s] = cells(B + 'n200_a0.1_s%d.json' % s, 'dg')
    old[s].update(cells(B + 'rest_n200_a0.1_s%d.json' % s, 'dg'))
    new[s] = cells(out('n200_a0.1_s%d' % s), 'loner')
    new[s].update(cells(out('rest_n200_a0.1_s%d' % s), 'loner'))
    oracle[s] = cells(O + 'matrix_seed%d.json' % s, 'oracle')

order = ['none', 'alie', 'ipm', 'fang_krum', 'fang_trim', 'min_max', 'min_sum', 'mpaf', 'scaling',
         'sign_flip', 'gaussian', 'mimic', 'label_flip', 'backdoor', 'scaling_half', 'constrain_scale']
print('| attack | seeds | oracle acc % | preset acc % (before / now) | now - oracle (mean / worst seed) | backdoor success % (oracle / before / now) | TPR % (before / now) | FPR % (before / now; worst seed now) |')
print('| --- | --: | --: | --: | --: | --: | --: | --: |')
for a in order:
    seeds = [s for s in (1, 2, 3) if a in new[s] and a in old[s]]
    if not seeds:
        continue
    okey = 'none' if a == 'none' else 'backdoor'  # attacked runs: the oracle leaves the attackers out
    orc = [oracle[s][okey]['final_accuracy'] * 100 for s in seeds]
    b = [old[s][a] for s in seeds]
    n = [new[s][a] for s in seeds]
    acc_b = st.mean(x['final_accuracy'] * 100 for x in b)
    acc_n = st.mean(x['final_accuracy'] * 100 for x in n)
    diffs = [n[i]['final_accuracy'] * 100 - orc[i] for i in range(len(seeds))]

    def m(key, xs):
        v = [x.get(key) for x in xs]
        return None if any(y is None for y in v) else st.mean(v) * 100
    bs = '–'
    if m('final_attack_success', n) is not None:
        bs = '%.1f / %.1f / %.1f' % (st.mean(oracle[s][okey]['final_attack_success'] * 100 for s in seeds),
                                     m('final_attack_success', b), m('final_attack_success', n))
    tpr = '–' if m('mean_tpr', n) is None else '%.1f / %.1f' % (m('mean_tpr', b), m('mean_tpr', n))
    print('| %s | %s | %.2f | %.2f / %.2f | %+.2f / %+.2f | %s | %s | %.2f / %.2f; %.2f |' % (
        a, ','.join(map(str, seeds)), st.mean(orc), acc_b, acc_n, st.mean(diffs), min(diffs), bs, tpr,
        m('mean_fpr', b), m('mean_fpr', n), max(x['mean_fpr'] * 100 for x in n)))
