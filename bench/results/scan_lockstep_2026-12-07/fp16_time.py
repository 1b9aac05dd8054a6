import sys, time, statistics
import numpy as np
sys.path.insert(0, sys.argv[1])
import fedguard as fg
n, d = 100, 1_000_000
rng = np.random.default_rng(0)
x = (rng.standard_normal((n, d), dtype=np.float32) * 0.1 + rng.standard_normal(d, dtype=np.float32) * 0.05)
xh = x.astype(np.float16)
for rule in ("krum", "multi_krum"):
    e = fg.Engine({"backend": "cpu", "aggregator": {"rule": rule, "f": 10}})
    t = {"f32": [], "f16": []}
    for r in range(11):
        for k, a in (("f32", x), ("f16", xh)):
            t0 = time.perf_counter(); e.process_round(a); t[k].append((time.perf_counter() - t0) * 1e3)
    print(rule, {k: round(statistics.median(v[2:]), 1) for k, v in t.items()}, {k: round(min(v), 1) for k, v in t.items()})
