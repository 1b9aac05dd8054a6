"""Where a data-level backdoor shows in the coordinates of its clients' updates (offline probe).

Reads rounds of a fedguard update log (safetensors, one n x d float32 matrix per round, the
malicious ids in its metadata) of the simulator's MLP (784 -> 64 -> 10, d = 50,890; the first
layer's weights W1[h, p] at h * 784 + p) and prints, per round, over honest and malicious
clients (min..max, median):
  trigger energy share  the share of the client's squared norm in W1's columns of the nine
                        pixels of the simulator's trigger (3 x 3, one pixel from the
                        bottom-right corner)
  big-ratio share       trigger-agnostic: the share in first-layer coordinates where the
                        client's |x| exceeds 20x that coordinate's median |x| over the clients
  dormant share         the share in coordinates whose median |x| is below 1e-3 of the typical
                        one (none exist here: the inputs are normalised, so no weight is idle)

Usage: python3 coordinates.py LOG_DIR ROUND [ROUND ...]
"""
import json,struct,sys,numpy as np
from round_file import load
trig=[r*28+c for r in range(24,27) for c in range(24,27)]
T=np.array([h*784+p for h in range(64) for p in trig])
d=sys.argv[1]
for rnd in map(int,sys.argv[2:]):
    X,mal=load(f"{d}/round_{rnd:06d}.safetensors")
    W1=X[:,:50176]
    tot=(X**2).sum(1)
    et=(X[:,T]**2).sum(1)/tot
    s=np.median(np.abs(W1),axis=0)   # per-coordinate typical magnitude
    ratio=np.abs(W1)/(s+1e-12)
    # generic: energy share in coordinates where |x| > 20 * median |x| of the column
    big=((W1**2)*(ratio>20)).sum(1)/tot
    # dormant coords: columns whose median |x| is below 1e-3 of the overall median
    dorm=s < 1e-3*np.median(s)
    ed=((W1[:,dorm])**2).sum(1)/tot
    f=lambda a: "hon %.2e..%.2e (med %.2e) | mal %.2e..%.2e (med %.2e)"%(a[~mal].min(),a[~mal].max(),np.median(a[~mal]),a[mal].min(),a[mal].max(),np.median(a[mal]))
    print("round",rnd,"dormant cols",dorm.sum())
    print("  trigger energy share", f(et))
    print("  big-ratio share     ", f(big))
    print("  dormant share       ", f(ed))
