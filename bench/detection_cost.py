# Detection stage cost against pass 1 (issue #13 target: <= 10% of pass 1 at n = 1000).
# Usage: PYTHONPATH=build/python python3 bench/detection_cost.py
import numpy as np, fedguard, json, time, os
rng=np.random.default_rng(0)
for n,d in [(100,1_000_000),(1000,100_000)]:
    x=(rng.standard_normal((n,d),dtype=np.float32)*0.1 + rng.standard_normal(d,dtype=np.float32)*0.05)
    e=fedguard.Engine({"preset":"recommended","f":n//5,"backend":"cpu"})
    e2=fedguard.Engine({"aggregator":{"rule":"krum","f":n//5},"backend":"cpu"})
    for rep in range(3):
        r=e.process_round(x); r2=e2.process_round(x)
        print(n,d,"preset",{k:round(v,1) for k,v in r.timings_ms.items()}, "krum", {k:round(v,1) for k,v in r2.timings_ms.items()}, "rejected",len(r.rejected_ids), flush=True)
