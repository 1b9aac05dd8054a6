"""Single-round detection quality of a policy on real federated updates (issue #13): Fashion-MNIST,
softmax regression (7,850 parameters) trained by FedAvg over n clients with Dirichlet label skew;
at chosen rounds the honest updates are computed by local SGD, f of them are replaced by each
attack of fedguard's library, and the policy's accepted mask is scored (TPR over the attackers,
FPR over the honest clients). The honest model keeps training on benign FedAvg, so every
attack is judged on the same honest rounds.

    PYTHONPATH=build/python python3 scripts/detection_eval.py --n 50 --f 10 --alpha 0.5 --seeds 3

A proxy for the simulator's matrix (host/sim needs LibTorch); the model is linear, so attacks
that need a deep model's structure (backdoors) are not meaningful here and are left out."""
import argparse, gzip, json, sys, time

import numpy as np

import fedguard

DATA = "/usr/share/datasets/fashion-mnist"


def load(split="train"):
    """Fashion-MNIST images (float32 in [0, 1], flattened) and labels of a split ("train" or "t10k")."""
    def images(path):
        with gzip.open(path) as f:
            return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0

    def labels(path):
        with gzip.open(path) as f:
            return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)

    return images(f"{DATA}/{split}-images-idx3-ubyte.gz"), labels(f"{DATA}/{split}-labels-idx1-ubyte.gz")


def dirichlet_split(y, n, alpha, rng, per_client=600):
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    parts = []
    for _ in range(n):
        p = rng.dirichlet(alpha * np.ones(10))
        counts = rng.multinomial(per_client, p)
        parts.append(np.concatenate([rng.choice(by_class[c], k, replace=False) for c, k in enumerate(counts) if k]))
    return parts


def local_update(w, x, y, rng, lr=0.1, epochs=1, batch=32):
    w0 = w.copy()
    W = w.reshape(785, 10)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for s in range(0, len(y), batch):
            idx = order[s:s + batch]
            xb = np.hstack([x[idx], np.ones((len(idx), 1), np.float32)])
            z = xb @ W
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            W -= lr * xb.T @ p / len(idx)
    return (W.reshape(-1) - w0).astype(np.float32)


ATTACKS = {  # name -> (library name, parameters)
    "alie": ("alie", {}),
    "ipm_0.5": ("ipm", {"epsilon": 0.5}),
    "ipm_10": ("ipm", {"epsilon": 10}),
    "sign_flip": ("sign_flip", {}),
    "gaussian": ("gaussian", {}),
    "scaling": ("scaling", {}),
    "min_max": ("min_max", {}),
    "min_sum": ("min_sum", {}),
    "fang_trim": ("fang_trim", {}),
    "fang_krum": ("fang_krum", {}),
    "mimic": ("mimic", {}),
    "mpaf": ("mpaf", {}),
}


# Adaptive attacks that know the detection stage (docs/detection.md): each starts from a
# library attack and then (a) adds independent noise to every copy so that no two malicious
# updates are near-duplicates (rho above collusion_max_distance: against the collusion signal),
# (b) rescales every malicious update to the benign median norm (against the norm signal), or
# both (splitting the attack across signals).
ADAPTIVE = {  # name -> (base attack, relative noise, match the norm)
    "alie+noise": ("alie", 0.3, False),
    "min_max+noise": ("min_max", 0.3, False),
    "ipm_0.5+noise+norm": ("ipm_0.5", 0.3, True),
    "alie+norm": ("alie", 0.0, True),
    "min_sum+noise+norm": ("min_sum", 0.3, True),
}


def adapt(mal, benign, noise, match_norm, rng):
    out = mal.astype(np.float64).copy()
    if noise > 0:
        for i in range(len(out)):
            e = rng.standard_normal(out.shape[1])
            out[i] += e / np.linalg.norm(e) * noise * np.linalg.norm(out[i])
    if match_norm:
        target = np.median(np.linalg.norm(benign, axis=1))
        out *= (target / np.maximum(np.linalg.norm(out, axis=1), 1e-30))[:, None]
    return out.astype(np.float32)


def craft(name, benign, own, w, seed, r, n_total, rng, cache):
    """The malicious updates of attack `name` this round (a library attack, or an adaptive one
    built on its base); `cache` keeps the library attacks crafted so far in the round."""
    if name in ADAPTIVE:
        base, noise, match = ADAPTIVE[name]
        if base not in cache:
            craft(base, benign, own, w, seed, r, n_total, rng, cache)
        return adapt(cache[base], benign, noise, match, rng)
    lib, params = ATTACKS[name]
    mal, _ = fedguard.attack(lib, benign, len(own), own=own, global_model=w, seed=seed, round=r, n_total=n_total,
                             **params)
    cache[name] = mal
    return mal


# How each signal's z is oriented so that larger means more suspicious (docs/detection.md).
ORIENT = {"detect_norm": abs, "detect_direction": lambda z: -z, "detect_sign": abs, "detect_spectral": abs,
          "detect_collusion": lambda z: -z, "detect_history": lambda z: -z}


def auc(attack_scores, honest_scores):
    """Probability that a random attacker scores above a random honest client (ties count half):
    the area under the ROC curve of one signal, threshold-free."""
    a = np.asarray(attack_scores, float)
    h = np.asarray(honest_scores, float)
    if not len(a) or not len(h):
        return None
    greater = (a[:, None] > h[None, :]).sum() + 0.5 * (a[:, None] == h[None, :]).sum()
    return float(greater / (len(a) * len(h)))


SINGLE_ROUND_SIGNALS = ["norm", "direction", "sign", "spectral", "collusion"]


def signal_scores(u, f, policy):
    """Per signal: (attackers' oriented z, honest clients' oriented z), each signal computed
    alone over every client (the others' budgets 0), so that its ROC does not depend on which
    clients an earlier signal removed."""
    out = {}
    for sig in SINGLE_ROUND_SIGNALS:
        only = {k: (0.002 if k == sig else 0.0) for k in SINGLE_ROUND_SIGNALS + ["history"]}
        res = fedguard.Engine({**policy, "detection": only}).process_round(u)
        name = "detect_" + sig
        if name not in res.scores:
            continue
        z = ORIENT[name](np.asarray(res.scores[name], float))
        out[name] = (z[:f][np.isfinite(z[:f])], z[f:][np.isfinite(z[f:])])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--f", type=int, default=10)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", default="1,10,30", help="rounds at which the attacks are judged")
    ap.add_argument("--policy", default='{"preset": "recommended"}')
    ap.add_argument("--out")
    ap.add_argument("--history", type=int, default=0,
                    help="instead: R consecutive rounds, one engine per attack keeping state (client ids), "
                         "the attackers the same clients every round (the history signal)")
    ap.add_argument("--accuracy", type=int, default=0,
                    help="instead: R rounds of training per attack, the model driven by the policy's aggregate, "
                         "against the benign-only oracle (FedAvg over the honest clients); final test accuracy")
    a = ap.parse_args()
    if a.history:
        return run_history(a)
    if a.accuracy:
        return run_accuracy(a)
    x, y = load()
    judge = [int(r) for r in a.rounds.split(",")]
    policy = json.loads(a.policy)
    if policy.get("preset") and "f" not in policy and "f_fraction" not in policy:
        policy["f"] = a.f
    rows = {}
    roc = {}  # attack -> signal -> (attackers' scores, honest scores), pooled over seeds and rounds
    fpr_clean = []
    t0 = time.time()
    for seed in range(a.seeds):
        rng = np.random.default_rng(seed)
        parts = dirichlet_split(y, a.n, a.alpha, rng)
        w = np.zeros(7850, np.float32)
        for r in range(max(judge) + 1):
            updates = np.stack([local_update(w, x[p], y[p], rng) for p in parts])
            if r in judge:
                benign = updates[a.f:]
                res = fedguard.Engine(policy).process_round(updates)  # no attack: FPR only
                fpr_clean.append(1 - res.accepted.mean())
                crafted = {}
                for name in list(ATTACKS) + list(ADAPTIVE):
                    try:
                        mal = craft(name, benign, updates[:a.f], w, seed, r, a.n, rng, crafted)
                    except Exception as exc:  # an attack the library cannot craft here
                        print(f"# {name}: {exc}", file=sys.stderr)
                        continue
                    u = np.vstack([mal, benign])
                    res = fedguard.Engine(policy).process_round(u)
                    acc = res.accepted
                    tpr = 1 - acc[:a.f].mean()
                    fpr = 1 - acc[a.f:].mean()
                    codes = {}
                    for rej in res.rejections:
                        if rej["client"] < a.f:
                            codes[rej["code"]] = codes.get(rej["code"], 0) + 1
                    rows.setdefault(name, []).append((tpr, fpr, codes))
                    for sig, (za, zh) in signal_scores(u, a.f, policy).items():
                        pooled = roc.setdefault(name, {}).setdefault(sig, ([], []))
                        pooled[0].extend(za)
                        pooled[1].extend(zh)
            w = w + updates.mean(axis=0)  # the honest federation keeps training
    out = {"setting": vars(a), "policy": policy, "clean_fpr": float(np.mean(fpr_clean)),
           "clean_fpr_max": float(np.max(fpr_clean)), "attacks": {}}
    print(f"n={a.n} f={a.f} alpha={a.alpha} seeds={a.seeds} rounds={judge} policy={json.dumps(policy)}")
    print(f"no attack: FPR mean {np.mean(fpr_clean):.3f}, max {np.max(fpr_clean):.3f}")
    print(f"{'attack':<10} {'TPR':>6} {'TPR min':>8} {'FPR':>6} {'FPR max':>8}  codes of the rejected attackers")
    for name, vals in rows.items():
        tprs = [v[0] for v in vals]
        fprs = [v[1] for v in vals]
        codes = {}
        for v in vals:
            for k, c in v[2].items():
                codes[k] = codes.get(k, 0) + c
        out["attacks"][name] = {"tpr": float(np.mean(tprs)), "tpr_min": float(np.min(tprs)),
                                "fpr": float(np.mean(fprs)), "fpr_max": float(np.max(fprs)), "codes": codes,
                                "auc": {sig.removeprefix("detect_"): auc(*v) for sig, v in roc.get(name, {}).items()}}
        print(f"{name:<10} {np.mean(tprs):6.2f} {np.min(tprs):8.2f} {np.mean(fprs):6.3f} {np.max(fprs):8.3f}  {codes}")
    sigs = SINGLE_ROUND_SIGNALS
    print("AUC per signal (attackers vs honest clients, z oriented to the signal's tail; - : not computed)")
    print(f"{'attack':<20} " + " ".join(f"{s:>9}" for s in sigs))
    for name, row in out["attacks"].items():
        cells = [row["auc"].get(s) for s in sigs]
        print(f"{name:<20} " + " ".join(f"{c:9.3f}" if c is not None else f"{'-':>9}" for c in cells))
    print(f"({time.time() - t0:.0f} s)")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=1)


def run_history(a):
    """R consecutive rounds per seed; for each attack one fedguard.Engine keeps its state across
    them, with client ids, so the detection stage's history signal sees each client's
    cumulative update. TPR / FPR per round; the first round judges like the single-round mode."""
    x, y = load()
    policy = json.loads(a.policy)
    if policy.get("preset") and "f" not in policy and "f_fraction" not in policy:
        policy["f"] = a.f
    ids = [f"c{i}" for i in range(a.n)]
    per_round = {}  # attack -> round -> list of (tpr, fpr, codes)
    t0 = time.time()
    for seed in range(a.seeds):
        rng = np.random.default_rng(seed)
        parts = dirichlet_split(y, a.n, a.alpha, rng)
        w = np.zeros(7850, np.float32)
        engines = {}
        for r in range(a.history):
            updates = np.stack([local_update(w, x[p], y[p], rng) for p in parts])
            benign = updates[a.f:]
            crafted = {"none": updates[:a.f]}
            for name in list(ATTACKS) + list(ADAPTIVE):
                try:
                    crafted[name] = craft(name, benign, updates[:a.f], w, seed, r, a.n, rng, crafted)
                except Exception as exc:
                    print(f"# {name}: {exc}", file=sys.stderr)
            for name, mal in crafted.items():
                eng = engines.setdefault(name, fedguard.Engine(policy))
                res = eng.process_round(np.vstack([mal, benign]), client_ids=ids)
                acc = res.accepted
                codes = {}
                for rej in res.rejections:  # the attackers' codes, and the honest clients' as "honest:<code>"
                    key = rej["code"] if rej["client"] < a.f else "honest:" + rej["code"]
                    codes[key] = codes.get(key, 0) + 1
                tpr = 1 - acc[:a.f].mean() if name != "none" else float("nan")
                per_round.setdefault(name, {}).setdefault(r, []).append((tpr, 1 - acc[a.f:].mean(), codes))
            w = w + updates.mean(axis=0)
    out = {"setting": vars(a), "policy": policy, "attacks": {}}
    print(f"n={a.n} f={a.f} alpha={a.alpha} seeds={a.seeds} rounds={a.history} policy={json.dumps(policy)}")
    print(f"{'attack':<20} {'TPR r0':>7} {'TPR r>=4':>9} {'FPR':>6} {'FPR max':>8}  codes of the rejected clients")
    for name, rounds in per_round.items():
        first = [v[0] for v in rounds[0]]
        late = [v[0] for r, vals in rounds.items() if r >= 4 for v in vals]
        fprs = [v[1] for vals in rounds.values() for v in vals]
        codes = {}
        for vals in rounds.values():
            for v in vals:
                for k, c in v[2].items():
                    codes[k] = codes.get(k, 0) + c
        row = {"tpr_round0": float(np.mean(first)), "tpr_from_round4": float(np.mean(late)) if late else None,
               "fpr": float(np.mean(fprs)), "fpr_max": float(np.max(fprs)), "codes": codes,
               "tpr_by_round": [float(np.mean([v[0] for v in rounds[r]])) for r in sorted(rounds)],
               "fpr_by_round": [float(np.mean([v[1] for v in rounds[r]])) for r in sorted(rounds)]}
        out["attacks"][name] = row
        print(f"{name:<20} {row['tpr_round0']:7.2f} {row['tpr_from_round4'] or 0:9.2f} {row['fpr']:6.3f} "
              f"{row['fpr_max']:8.3f}  {codes}")
    print(f"({time.time() - t0:.0f} s)")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=1)


def accuracy(w, x, y):
    W = w.reshape(785, 10)
    return float(((np.hstack([x, np.ones((len(y), 1), np.float32)]) @ W).argmax(axis=1) == y).mean())


def run_accuracy(a):
    """One training run per attack: every round all n clients train from that run's model, the
    first f send the attack, the policy's engine (state kept, client ids) aggregates, and the
    model moves by the aggregate. The benign-only oracle is FedAvg over the honest clients of
    its own run. Final accuracy on the 10,000 test images."""
    x, y = load()
    xt, yt = load("t10k")
    policy = json.loads(a.policy)
    if policy.get("preset") and "f" not in policy and "f_fraction" not in policy:
        policy["f"] = a.f
    ids = [f"c{i}" for i in range(a.n)]
    runs = ["oracle", "none"] + list(ATTACKS) + list(ADAPTIVE)
    final = {name: [] for name in runs}
    detect = {name: [] for name in runs}
    t0 = time.time()
    for seed in range(a.seeds):
        parts = dirichlet_split(y, a.n, a.alpha, np.random.default_rng(seed))
        for name in runs:
            rng = np.random.default_rng(1000 + seed)  # the same client randomness in every run
            w = np.zeros(7850, np.float32)
            eng = fedguard.Engine(policy)
            tprs = []
            for r in range(a.accuracy):
                updates = np.stack([local_update(w, x[p], y[p], rng) for p in parts])
                benign = updates[a.f:]
                if name == "oracle":
                    w = w + benign.mean(axis=0)
                    continue
                mal = updates[:a.f]  # "none": the attackers send what they trained
                try:
                    if name != "none":
                        mal = craft(name, benign, updates[:a.f], w, seed, r, a.n, rng, {})
                except Exception as exc:
                    print(f"# {name}: {exc}", file=sys.stderr)
                res = eng.process_round(np.vstack([mal, benign]), client_ids=ids)
                tprs.append(1 - res.accepted[:a.f].mean())
                w = w + np.asarray(res.aggregate, np.float32)
            final[name].append(accuracy(w, xt, yt))
            detect[name].append(float(np.mean(tprs)) if tprs else None)
            print(f"# seed {seed} {name}: accuracy {final[name][-1]:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    out = {"setting": vars(a), "policy": policy, "runs": {}}
    oracle = float(np.mean(final["oracle"]))
    print(f"n={a.n} f={a.f} alpha={a.alpha} seeds={a.seeds} rounds={a.accuracy} policy={json.dumps(policy)}")
    print(f"{'run':<20} {'accuracy':>9} {'- oracle':>9} {'worst seed - oracle':>20} {'TPR':>6}")
    for name in runs:
        acc = float(np.mean(final[name]))
        worst = float(min(f - o for f, o in zip(final[name], final["oracle"])))
        tpr = None if name in ("oracle", "none") else float(np.mean(detect[name]))
        out["runs"][name] = {"accuracy": acc, "accuracy_by_seed": final[name], "minus_oracle": acc - oracle,
                             "worst_seed_minus_oracle": worst, "tpr": tpr}
        print(f"{name:<20} {acc:9.4f} {acc - oracle:+9.4f} {worst:+20.4f} {tpr if tpr is not None else float('nan'):6.2f}")
    print(f"({time.time() - t0:.0f} s)")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
