#!/usr/bin/env python3
"""The preset with f_floor 0.25 against the default of the direction-group record (the same
engine but for the floor; the n = 50 controls rerun here reproduce it cell for cell), cell by
cell: accuracy, backdoor success, TPR, FPR (%).
  compare.py [MATRICES_DIR] [POLICY] > compare.md   (default: this record's matrices/)"""
import json
import os
import sys

BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                    'direction_group_alignment_2026-12-07', 'matrices')
HERE = os.path.dirname(os.path.abspath(__file__))
new_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'matrices')
policy = sys.argv[2] if len(sys.argv) > 2 else 'floor25'


def cells(path, pol):
    if not os.path.exists(path):
        return {}
    m = json.load(open(path))
    return {c['attack']: c['summary'] for c in m['cells'] if c['policy'] == pol}


def pct(v):
    return '-' if v is None else '%.1f' % (100 * v)


for name in sorted(os.listdir(new_dir)):
    if name.startswith('control_') or not name.endswith('.json'):
        continue
    setting = name[:-len('.json')]
    new_path = os.path.join(new_dir, name)
    base = {}
    for pol in ('default', 'dg'):  # dg (the direction group on) is the current default
        base.update(cells(os.path.join(BASE, 'rest_' + setting + '.json'), pol))
        base.update(cells(os.path.join(BASE, setting + '.json'), pol))
    new = cells(new_path, policy)
    print('\n#### %s\n' % setting)
    print('| attack | accuracy (default / floor) | backdoor success | TPR | FPR |')
    print('| --- | --: | --: | --: | --: |')
    for attack, n in new.items():
        b = base.get(attack)
        if b is None:
            continue
        print('| %s | %s / %s | %s / %s | %s / %s | %.2f / %.2f |' % (
            attack, pct(b['final_accuracy']), pct(n['final_accuracy']),
            pct(b.get('final_attack_success')), pct(n.get('final_attack_success')),
            pct(b.get('mean_tpr')), pct(n.get('mean_tpr')), 100 * b['mean_fpr'],
            100 * n['mean_fpr']))
