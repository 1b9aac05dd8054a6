import sys, time, statistics, numpy as np, fedguard, torch
reps=int(sys.argv[1]); tag=sys.argv[2]
rng=np.random.default_rng(0)
x=(rng.standard_normal((100,1_000_000),dtype=np.float32)*0.01).astype(np.float32)
t=torch.from_numpy(x)
eng=fedguard.Engine({"aggregator":{"rule":"krum","f":10}})
def krum_torch(t, f=10):
    n=t.shape[0]
    g=t@t.T
    sq=torch.diagonal(g)
    d=(sq[:,None]+sq[None,:]-2*g).clamp_min_(0)
    s=torch.sort(d,dim=1).values[:,1:n-f-1].sum(dim=1)
    return t[torch.argmin(s)]
fg=[];tg=[];p1=[]
eng.process_round(x); krum_torch(t)
for i in range(reps):
    time.sleep(0.05); a=time.perf_counter(); r=eng.process_round(x); fg.append((time.perf_counter()-a)*1e3); p1.append(r.timings_ms['pass1_scan'])
    time.sleep(0.05); a=time.perf_counter(); krum_torch(t); tg.append((time.perf_counter()-a)*1e3)
print(f"{tag}: fedguard krum median {statistics.median(fg):.1f} min {min(fg):.1f} (pass1 median {statistics.median(p1):.1f}) | torch krum median {statistics.median(tg):.1f} min {min(tg):.1f} | ratio of medians {statistics.median(tg)/statistics.median(fg):.2f}x")
