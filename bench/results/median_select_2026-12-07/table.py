#!/usr/bin/env python3
"""pass.txt (run_pass.sh) as a table: per statistic and shape, the minimum over the rounds of
each build's minimum-of-5, one thread's CPU time and both cores' wall-clock time, in ms.
  python3 table.py pass.txt > pass_table.md"""
import re
import sys
from collections import defaultdict

best = defaultdict(lambda: float("inf"))
order = []
for line in open(sys.argv[1]):
    m = re.match(r"(base|new) (\dT) (\w+) n=(\d+) d=(\d+): ([\d.]+) ms", line)
    if not m:
        continue
    build, threads, what, n, d, ms = m.groups()
    key = (what, int(n), int(d))
    if key not in order:
        order.append(key)
    best[key + (build, threads)] = min(best[key + (build, threads)], float(ms))
print("| statistic | n | d | one thread: networks | counting | ratio | both cores: networks | counting | ratio |")
print("| --- | --: | --: | --: | --: | --: | --: | --: | --: |")
for key in order:
    b1, n1 = best[key + ("base", "1T")], best[key + ("new", "1T")]
    b2, n2 = best[key + ("base", "2T")], best[key + ("new", "2T")]
    print(f"| {key[0]} | {key[1]} | {key[2]} | {b1:.1f} | {n1:.1f} | {b1 / n1:.2f}x | {b2:.1f} | {n2:.1f} | {b2 / n2:.2f}x |")
