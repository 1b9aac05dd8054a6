"""Cost of monitoring against the round (docs/monitoring.md): n x d float32 rounds through an
engine with monitoring on (the default detectors) and off; prints the `monitor` stage's time,
the round's total, and the wall time per round of each engine (medians over --rounds rounds
after one warm-up round).

    PYTHONPATH=build/python python3 bench/monitor/monitor_cost.py --n 100 --d 1000000
"""

import argparse
import statistics
import time

import numpy as np

import fedguard


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--d", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--policy", default="recommended", help="'recommended' (f = n/10) or 'mean'")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((a.n, a.d), dtype=np.float32) * 0.01 + 0.001).astype(np.float32)
    policy = fedguard.recommended_policy(max(1, a.n // 10)) if a.policy == "recommended" else {}
    # The two engines take turns, round by round and in alternating order, so that load from
    # elsewhere on the machine falls on both alike.
    engines = {m: fedguard.Engine({**policy, "monitoring": m}) for m in (True, False)}
    samples = {m: ([], [], [], []) for m in (True, False)}
    for t in range(a.rounds + 1):
        for monitoring in ((True, False) if t % 2 == 0 else (False, True)):
            engine = engines[monitoring]
            start = time.perf_counter()
            r = engine.process_round(x)
            elapsed = time.perf_counter() - start
            if t == 0:
                continue
            wall, stage, total, outside = samples[monitoring]
            wall.append(elapsed * 1e3)
            stage.append(r.timings_ms.get("monitor", 0.0))
            total.append(r.timings_ms["total"])
            outside.append(elapsed * 1e3 - r.timings_ms["total"])
    results = {m: tuple(statistics.median(v) for v in samples[m]) for m in (True, False)}
    on, off = results[True], results[False]
    print(f"n={a.n} d={a.d} policy={a.policy} rounds={a.rounds} (medians)")
    print(f"monitoring on : wall {on[0]:.1f} ms, engine total {on[2]:.1f} ms, monitor stage {on[1]:.3f} ms "
          f"({100 * on[1] / on[2]:.2f} % of the round)")
    print(f"monitoring off: wall {off[0]:.1f} ms, engine total {off[2]:.1f} ms")
    # Outside the engine's stages: the commit (which copied the aggregate into the state before
    # 2026-12-06) and the Python wrapper.
    print(f"outside the stages (wall - total): on {on[3]:.3f} ms, off {off[3]:.3f} ms")
    print(f"wall difference on - off: {on[0] - off[0]:+.1f} ms ({100 * (on[0] - off[0]) / off[0]:+.2f} %)")


if __name__ == "__main__":
    main()
