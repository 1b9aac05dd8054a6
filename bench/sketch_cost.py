# Pass 1's cost with and without the per-client sketch (issue #19 "a fast sketch": the sketch
# should cost at most 25% of pass 1). The recommended preset keeps the sketch for the detection
# stage's history signal; "detection": {"history": 0} drops it (no rule of the preset needs it).
# Best of `--repeats` rounds each (the first round of an engine warms caches and threads).
# Usage: PYTHONPATH=build/python python3 bench/sketch_cost.py [--repeats 5] [--shapes 100x1000000,1000x100000]
import argparse
import json
import os

import numpy as np

import fedguard

ap = argparse.ArgumentParser()
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--shapes", default="100x1000000,1000x100000")
ap.add_argument("--json", default="")
args = ap.parse_args()

rng = np.random.default_rng(0)
results = []
print("load:", open("/proc/loadavg").read().strip(), flush=True)
for shape in args.shapes.split(","):
    n, d = (int(v) for v in shape.split("x"))
    x = rng.standard_normal((n, d), dtype=np.float32) * 0.1 + rng.standard_normal(d, dtype=np.float32) * 0.05
    row = {"n": n, "d": d}
    for label, cfg in [("with_sketch", {"preset": "recommended", "f": n // 5, "backend": "cpu"}),
                       ("without", {"preset": "recommended", "f": n // 5, "backend": "cpu",
                                    "detection": {"history": 0}})]:
        e = fedguard.Engine(cfg)
        e.process_round(x)  # warm-up
        p1, tot = [], []
        for _ in range(args.repeats):
            r = e.process_round(x)
            p1.append(r.timings_ms["pass1_scan"])
            tot.append(sum(r.timings_ms.values()))
        row[label] = {"pass1_ms": p1, "round_ms": tot, "best_pass1_ms": min(p1), "best_round_ms": min(tot)}
        print(n, d, label, "pass1 best %.1f ms (all %s), round best %.1f ms" %
              (min(p1), [round(v, 1) for v in p1], min(tot)), flush=True)
    w, wo = row["with_sketch"]["best_pass1_ms"], row["without"]["best_pass1_ms"]
    row["sketch_share_of_pass1"] = (w - wo) / w
    print(n, d, "sketch share of pass 1: %.1f%%" % (100 * (w - wo) / w), flush=True)
    results.append(row)
print("load:", open("/proc/loadavg").read().strip(), flush=True)
if args.json:
    with open(args.json, "w") as f:
        json.dump({"load_after": open("/proc/loadavg").read().strip(), "results": results}, f, indent=1)
