# Fixed-threshold view of the signed agreement with the sign-invariant neighbourhood.
import sys, json, glob, numpy as np
sys.path.insert(0, 'build/python')
from fedguard.update_log import read_round
logdir = sys.argv[1]; res = json.load(open(sys.argv[2]))
stride = int(sys.argv[3]) if len(sys.argv) > 3 else 1
mal = set(res['setup']['malicious_clients'])
files = sorted(glob.glob(logdir + '/round_*.safetensors'))[::stride]
variants = {'k10': (10, 1), 'k10w': (10, 2), 'k20w': (20, 2), 'k5w': (5, 2)}
cuts = [0.0, -0.2, -0.3, -0.4, -0.5]
S = {v: ([], []) for v in variants}
for f in files:
    r = read_round(f)
    X = np.asarray(r['updates'], dtype=np.float64); ids = list(r['client_ids'])
    ism = np.array([c in mal for c in ids])
    nrm = np.linalg.norm(X, axis=1); C = (X @ X.T) / np.outer(nrm, nrm); np.fill_diagonal(C, 0)
    A = np.abs(C)
    for v, (k, p) in variants.items():
        idx = np.argpartition(-A, k, axis=1)[:, :k]
        c = np.take_along_axis(C, idx, 1); a = np.abs(c)
        s = (c * a ** (p - 1)).sum(1) / (a ** p).sum(1)
        S[v][0].extend(s[ism]); S[v][1].extend(s[~ism])
for v in variants:
    a = np.array(S[v][0]); h = np.array(S[v][1])
    line = f"{v}: honest q0.1% {np.quantile(h, 0.001):.2f} q1% {np.quantile(h, 0.01):.2f} q5% {np.quantile(h,0.05):.2f} med {np.median(h):.2f}"
    if len(a): line += f" | attackers med {np.median(a):.2f} q90 {np.quantile(a, 0.9):.2f}"
    for c in cuts:
        line += f" | <{c}: TPR {(a < c).mean() if len(a) else float('nan'):.3f} FPR {(h < c).mean():.4f}"
    print(line)
