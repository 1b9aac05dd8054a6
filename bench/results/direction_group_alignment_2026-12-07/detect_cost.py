# detect-stage time at n = 1000, d = 1e5 with the direction group on (default) and off, the same
# fresh rounds for both, alternating; median of the engine's own detect timings.
import numpy as np, fedguard, statistics, os, platform
n, d = 1000, 100000
rng = np.random.default_rng(0)
shared = rng.standard_normal(d, dtype=np.float32) * 0.05
engines = {k: fedguard.Engine({"preset": "recommended", "f": n // 5, "backend": "cpu",
                               **({} if k == "on" else {"detection": {"direction_group": 0}})})
           for k in ("on", "off")}
ids = [f"c{i}" for i in range(n)]
times = {"on": [], "off": []}; p1 = {"on": [], "off": []}
for r in range(10):
    x = rng.standard_normal((n, d), dtype=np.float32) * 0.1 + shared
    for k, e in engines.items():
        res = e.process_round(x, client_ids=ids)
        if r >= 4:
            times[k].append(res.timings_ms["detect"]); p1[k].append(res.timings_ms["pass1_scan"])
print("# machine:", platform.processor() or platform.machine(), os.cpu_count(), "cores; BLAS:", fedguard.blas_info()["description"])
for k in times:
    print(k, "detect median %.1f ms (min %.1f), pass1 median %.1f ms" % (statistics.median(times[k]), min(times[k]), statistics.median(p1[k])))
