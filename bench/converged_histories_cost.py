# The detection stage's time round by round while the clients' histories converge (issue #13).
# Usage: PYTHONPATH=build/python python3 bench/converged_histories_cost.py [n d rounds shared]
# Synthetic float32 rounds drawn afresh from one distribution (a shared direction of scale
# `shared`, 0.05 by default, plus client noise of 0.1): the cumulative histories' shared part
# grows with the rounds and their noise with its square root, so their normalised distances
# shrink until nearly every pair lies within the history signal's follow distance (as in a
# federation with one common direction; or 1,000 Sybils). The recommended preset, f = n/5,
# the engine's own stage timings, one line a round: round, pass 1, detect, decide (ms).
import sys, numpy as np, fedguard
n, d, rounds = (int(v) for v in (sys.argv[1:4] if len(sys.argv) > 3 else (1000, 2000, 36)))
shared_scale = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05
rng = np.random.default_rng(0)
shared = rng.standard_normal(d, dtype=np.float32) * shared_scale
ids = [f"c{i}" for i in range(n)]
engine = fedguard.Engine({"preset": "recommended", "f": n // 5, "backend": "cpu"})
print("# n", n, "d", d, "; BLAS:", fedguard.blas_info()["description"])
print("round pass1_ms detect_ms decide_ms")
for r in range(rounds):
    x = rng.standard_normal((n, d), dtype=np.float32) * 0.1 + shared
    t = dict(engine.process_round(x, client_ids=ids).timings_ms)
    print(r, round(t["pass1_scan"], 1), round(t["detect"], 1), round(t["decide"], 1), flush=True)
