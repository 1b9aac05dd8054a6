# Detection stage cost against pass 1 (issue #13 target: <= 10% of pass 1 at n = 1000).
# Usage: PYTHONPATH=build/python python3 bench/detection_cost.py [--reps 4] [--warm 6] [--fresh]
# Synthetic float32 rounds (a shared direction plus client noise), the recommended preset with
# f = n/5 with its four history signals (the default: history, history_direction,
# history_group, history_response) and without ({"detection": {"history": 0,
# "history_direction": 0, "history_group": 0, "history_response": 0}}),
# the same round repeated (after --warm rounds, 6 by default: every client then has a history
# and an own baseline in use, docs/detection.md); best of --reps of the engine's own timings_ms
# per stage. With --fresh every round is drawn afresh from the same distribution (a federation's
# rounds differ; a repeated round makes every client's history a multiple of one update) and the
# median of the --reps timed rounds is printed beside the best.
# The process runs the BLAS kernel it loaded: on a processor OpenBLAS does not know, set
# OPENBLAS_CORETYPE (fedguard.blas_info() says which; README, "The BLAS kernel").
import argparse, os, platform, statistics, numpy as np, fedguard
ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=4)
ap.add_argument("--warm", type=int, default=6)
ap.add_argument("--fresh", action="store_true")
ap.add_argument("--sizes", default="100x1000000,1000x100000")
args = ap.parse_args()
print("# machine:", platform.processor() or platform.machine(), os.cpu_count(), "cores; load",
      os.getloadavg()[0], "; OPENBLAS_CORETYPE =", os.environ.get("OPENBLAS_CORETYPE", "unset"),
      "; BLAS:", fedguard.blas_info()["description"], "; rounds:", "fresh" if args.fresh else "repeated")
print("| n | d | history | pass1_scan (ms) | detect (ms) | detect / pass 1 | decide (ms) | pass2 (ms) | total (ms) |"
      + (" detect, median (ms) | pass1, median (ms) |" if args.fresh else ""))
print("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if args.fresh else ""))
rng = np.random.default_rng(0)
for size in args.sizes.split(","):
    n, d = (int(float(v)) for v in size.split("x"))
    shared = rng.standard_normal(d, dtype=np.float32) * 0.05
    def draw():
        return rng.standard_normal((n, d), dtype=np.float32) * 0.1 + shared
    x = draw()
    ids = [f"c{i}" for i in range(n)]
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
            engine.process_round(draw() if args.fresh else x, client_ids=ids)
        runs = [engine.process_round(draw() if args.fresh else x, client_ids=ids).timings_ms
                for _ in range(args.reps)]
        best = {k: min(r[k] for r in runs) for k in runs[0]}
        line = (f"| {n} | {d:,} | {'on' if history else 'off'} | {best['pass1_scan']:.1f} | "
                f"{best['detect']:.1f} | {100 * best['detect'] / best['pass1_scan']:.1f}% | "
                f"{best['decide']:.1f} | {best['pass2_aggregate']:.1f} | {best['total']:.1f} |")
        if args.fresh:
            line += (f" {statistics.median(r['detect'] for r in runs):.1f} |"
                     f" {statistics.median(r['pass1_scan'] for r in runs):.1f} |")
        print(line, flush=True)
    del x
