# Detection stage cost against pass 1 (issue #13 target: <= 10% of pass 1 at n = 1000).
# Usage: PYTHONPATH=build/python python3 bench/detection_cost.py [--reps 4] [--warm 6]
# Synthetic float32 rounds (a shared direction plus client noise), the recommended preset with
# f = n/5 with its four history signals (the default: history, history_direction,
# history_group, history_response) and without ({"detection": {"history": 0,
# "history_direction": 0, "history_group": 0, "history_response": 0}}),
# the same round repeated (after --warm rounds, 6 by default: every client then has a history
# and an own baseline in use, docs/detection.md); best of --reps of the engine's own timings_ms
# per stage.
import argparse, os, platform, numpy as np, fedguard

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=4)
ap.add_argument("--warm", type=int, default=6)
args = ap.parse_args()
print("# machine:", platform.processor() or platform.machine(), os.cpu_count(), "cores; load",
      os.getloadavg()[0], "; OPENBLAS_CORETYPE =", os.environ.get("OPENBLAS_CORETYPE", "unset"))
print("| n | d | history | pass1_scan (ms) | detect (ms) | detect / pass 1 | decide (ms) | pass2 (ms) | total (ms) |")
print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
rng = np.random.default_rng(0)
for n, d in [(100, 1_000_000), (1000, 100_000)]:
    x = (rng.standard_normal((n, d), dtype=np.float32) * 0.1
         + rng.standard_normal(d, dtype=np.float32) * 0.05)
    for history in (True, False):
        cfg = {"preset": "recommended", "f": n // 5, "backend": "cpu"}
        if not history:
            cfg["detection"] = {"history": 0, "history_direction": 0, "history_group": 0,
                                "history_response": 0}
        engine = fedguard.Engine(cfg)
        # Warm-up rounds: the history signals need clients seen in two rounds, and the own
        # baselines five accepted rounds; without them the best run would be one in which they
        # did not run.
        for _ in range(max(1, args.warm)):
            engine.process_round(x)
        runs = [engine.process_round(x).timings_ms for _ in range(args.reps)]
        best = {k: min(r[k] for r in runs) for k in runs[0]}
        print(f"| {n} | {d:,} | {'on' if history else 'off'} | {best['pass1_scan']:.1f} | "
              f"{best['detect']:.1f} | {100 * best['detect'] / best['pass1_scan']:.1f}% | "
              f"{best['decide']:.1f} | {best['pass2_aggregate']:.1f} | {best['total']:.1f} |",
              flush=True)
    del x
