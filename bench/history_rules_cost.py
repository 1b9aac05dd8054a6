# Usage: PYTHONPATH=build/python python3 bench/history_rules_cost.py
# FoolsGold / FLDetector rounds against a Krum round at n = 50, d = 51,200 (issue #19 target:
# <= 1.25x), the engine's own total, best and median of interleaved rounds after warm-up rounds.
import numpy as np, fedguard as fg, statistics, os
n, d = 50, 51_200
rng = np.random.default_rng(0)
common = rng.standard_normal(d, dtype=np.float32) * 0.05
rounds = [(rng.standard_normal((n, d), dtype=np.float32) * 0.1 + common) for _ in range(4)]
cfgs = {
    "krum": {"aggregator": {"rule": "krum", "f": 10}},
    "multi_krum": {"aggregator": {"rule": "multi_krum", "f": 10}},
    "foolsgold": {"aggregator": {"rule": "foolsgold"}},
    "fldetector": {"filters": [{"rule": "fldetector"}], "aggregator": {"rule": "mean"}},
}
engines = {k: fg.Engine({"backend": "cpu", **v}) for k, v in cfgs.items()}
ids = [f"c{i}" for i in range(n)]
for r in range(6):  # warm-up: histories
    for e in engines.values(): e.process_round(rounds[r % 4], client_ids=ids)
times = {k: [] for k in cfgs}
for r in range(30):
    for k, e in engines.items():
        times[k].append(e.process_round(rounds[r % 4], client_ids=ids).timings_ms["total"])
print("# load", os.getloadavg())
for k, t in times.items():
    print(f"{k}: best {min(t):.2f} ms, median {statistics.median(t):.2f} ms, median / krum's {statistics.median(t) / statistics.median(times['krum']):.2f}")
