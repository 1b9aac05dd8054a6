# Probe (2026-12-05): can a sign-flipped update be told from honest ones by its negative cosines with
# the other clients? Output of `PYTHONPATH=build/python python3 probe.py 50 10` (run from scripts/ on sys.path) below.
import sys, numpy as np
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "../../../scripts"))
import detection_eval as de, fedguard
n, f = int(sys.argv[1]), int(sys.argv[2])
x, y = de.load()
def auc(a, h):
    a = np.asarray(a); h = np.asarray(h)
    return float(((a[:, None] > h[None, :]).mean() + 0.5 * (a[:, None] == h[None, :]).mean()))
for alpha in [0.5, 0.1]:
    A = {k: [] for k in ["negfrac", "minneg", "negmass"]}; H = {k: [] for k in A}
    for seed in range(3):
        rng = np.random.default_rng(seed); parts = de.dirichlet_split(y, n, alpha, rng); w = np.zeros(7850, np.float32)
        for r in range(31):
            U = np.stack([de.local_update(w, x[p], y[p], rng) for p in parts])
            if r in (1, 10, 30):
                V = U.astype(np.float64).copy(); V[:f] = -V[:f]  # sign flip: -own
                Nrm = V / np.linalg.norm(V, axis=1, keepdims=True); C = Nrm @ Nrm.T; np.fill_diagonal(C, 0)
                neg = np.maximum(0, -C); pos = np.maximum(0, C)
                negfrac = (neg**2).sum(1) / ((C**2).sum(1))
                minneg = -C.min(1)
                # mass of strong negative relations beyond the round's typical |cos|
                thr = np.median(np.abs(C[np.triu_indices(n, 1)])) * 3
                negmass = (neg > thr).sum(1) - (pos > thr).sum(1)
                for k, v in [("negfrac", negfrac), ("minneg", minneg), ("negmass", negmass)]:
                    A[k] += list(v[:f]); H[k] += list(v[f:])
            w = w + U.mean(0)
    for k in A:
        h = np.array(H[k]); a = np.array(A[k])
        print(f"alpha {alpha} {k:<8} AUC {auc(a, h):.3f}  attackers median {np.median(a):.3f}  honest median {np.median(h):.3f} q99 {np.quantile(h, 0.99):.3f} max {h.max():.3f}  TPR@honest-max {np.mean(a > h.max()):.2f}")

# Output:
# alpha 0.5 negfrac  AUC 0.478  attackers median 0.537  honest median 0.539 q99 0.671 max 0.747  TPR@honest-max 0.00
# alpha 0.5 minneg   AUC 0.423  attackers median 0.642  honest median 0.664 q99 0.838 max 0.874  TPR@honest-max 0.00
# alpha 0.5 negmass  AUC 0.496  attackers median 0.000  honest median 0.000 q99 2.000 max 2.000  TPR@honest-max 0.01
# alpha 0.1 negfrac  AUC 0.566  attackers median 0.541  honest median 0.522 q99 0.707 max 0.756  TPR@honest-max 0.00
# alpha 0.1 minneg   AUC 0.538  attackers median 0.743  honest median 0.735 q99 0.913 max 0.939  TPR@honest-max 0.00
# alpha 0.1 negmass  AUC 0.585  attackers median 0.500  honest median 0.000 q99 3.000 max 5.000  TPR@honest-max 0.00
