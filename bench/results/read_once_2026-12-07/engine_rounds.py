"""One build's median round, data cold (a 256 MB buffer touched between rounds) or warm."""
import sys, time, statistics
import numpy as np
sys.path.insert(0, sys.argv[1])
import fedguard as fg
n, d, mode, reps = int(sys.argv[2]), int(float(sys.argv[3])), sys.argv[4], int(sys.argv[5])
rule = sys.argv[6] if len(sys.argv) > 6 else "median"
rng = np.random.default_rng(1)
x = rng.standard_normal((n, d), dtype=np.float32)
pol = {"aggregator": {"rule": rule}} if rule == "median" else {"aggregator": {"rule": rule, "trim": max(1, n // 10)}}
e = fg.Engine({"backend": "cpu", **pol})
flush = np.ones(64 << 20, dtype=np.float32)
ts = []
for r in range(reps + 1):
    if mode == "cold":
        flush += 1.0
    time.sleep(0.02)
    t0 = time.perf_counter()
    e.process_round(x)
    t = time.perf_counter() - t0
    if r: ts.append(t * 1e3)
print(f"{statistics.median(ts):.3f} {min(ts):.3f}")
