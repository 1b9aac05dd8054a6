# Before/after equivalence of the engine on rounds where many history pairs come close: per-round
# accepted masks, weights, rejections and the final state file's hash.
import sys, hashlib, json, numpy as np
sys.path.insert(0, sys.argv[1])  # usage: equiv.py BUILD_PYTHON_DIR OUT.json; compare two OUT.json with cmp
import fedguard
out = []
for n, d, rounds, shared_scale, drop in ((300, 500, 40, 0.05, 0), (120, 400, 30, 0.08, 1), (1000, 300, 28, 0.05, 0), (60, 400, 40, 0.03, 1), (80, 400, 40, 0.02, 1)):
    rng = np.random.default_rng(n)
    shared = rng.standard_normal(d, dtype=np.float32) * shared_scale
    e = fedguard.Engine({"preset": "recommended", "f": n // 5, "backend": "cpu"})
    for r in range(rounds):
        ids = [f"c{i}" for i in range(n)]
        x = rng.standard_normal((n, d), dtype=np.float32) * 0.1 + shared
        x[:10] = x[0] + rng.standard_normal((10, d), dtype=np.float32) * 0.02  # a Sybil group
        if drop and r % 7 == 3:  # some clients absent for a round
            keep = [i for i in range(n) if i % 5 != r % 5]
            x = x[keep]; ids = [ids[i] for i in keep]
        res = e.process_round(x, client_ids=ids)
        out.append([n, r, [int(v) for v in res.accepted], [round(float(w), 12) for w in res.weights],
                    sorted(res.rejected_ids)])
    path = f"/tmp/equiv_state_{n}.fgs"
    e.save_state(path)
    raw = open(path, 'rb').read()
    out.append([n, 'state', hashlib.sha256(raw).hexdigest(), len(raw)])
    print(n, 'done', flush=True)
json.dump(out, open(sys.argv[2], 'w'))
