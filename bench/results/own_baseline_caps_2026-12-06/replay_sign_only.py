"""On scans made by the engine with the caps by side and the small-norm rule (commit 6f407dd):
replay, open loop, the extra rule 'a round in which the sign balance alone fired counts as
accepted for the own baselines (share, norm z and sign z)', and count the rejections it spares
(a sign-only rejection whose z lies within cut + the client's habit, capped at 6).
Usage: replay_sign_only.py ROUNDS_JSONL...  (two lines per file: without and with the rule)"""
import collections, json, os, sys
RATE, MIN_ROUNDS, MIN_SHARE = 0.1, 5, 0.5
CAPS = {"norm_hi": 2, "norm_lo": 6, "sign_hi": 6, "sign_lo": 6}
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "replay_caps.py")).read().split("def replay")[0])
def replay(path, sign_counts):
    E = collections.defaultdict(lambda: {"norm":[0.,0.,0], "sign":[0.,0.,0], "share":[0.,0.]})
    c = collections.Counter()
    for line in open(path):
        r = json.loads(line); mal = set(r["malicious"]); rej = {j["id"]: j for j in r["rejections"]}
        for i, cid in enumerate(r["client_ids"]):
            side = "mal" if cid in mal else "ben"; c[side+"_total"] += 1; e = E[cid]
            accepted = cid not in rej; zs = {"norm": r["scores"]["detect_norm"][i], "sign": r["scores"]["detect_sign"][i]}
            counts_for = {"norm": accepted, "sign": accepted}; share_ok = accepted
            if not accepted:
                j = rej[cid]; c[side+"_rej"] += 1
                f = fired(j["values"]) if j["stage"] == "detect" else []
                share = e["share"][0]/e["share"][1] if e["share"][1] > 0 else 0
                ok = False
                if f in (["sign_hi"], ["sign_lo"]):
                    z = j["values"]["sign_z"]; cut = j["values"]["sign_cut"]
                    a, wa, k = e["sign"]
                    h = a/wa if (wa > 0 and k >= MIN_ROUNDS and share >= MIN_SHARE) else 0.
                    h = max(-6, min(6, h))
                    ok = sign_counts and (h>0) == (z>0) and abs(z) <= cut + abs(h)
                    if sign_counts: share_ok = True; counts_for = {"norm": True, "sign": True}
                if f == ["norm_lo"]: share_ok = True; counts_for = {"norm": True, "sign": False}
                c[side+"_spared"] += ok
            e["share"][0] = (1-RATE)*e["share"][0] + RATE*share_ok; e["share"][1] = (1-RATE)*e["share"][1] + RATE
            for s in ("norm","sign"):
                z = zs[s]
                if not counts_for[s] or z is None: continue
                e[s][0] = (1-RATE)*e[s][0] + RATE*z; e[s][1] = (1-RATE)*e[s][1] + RATE; e[s][2] += 1
    return c
for p in sys.argv[1:]:
    for sc in (False, True):
        c = replay(p, sc)
        t = f"  TPR {100*c['mal_rej']/c['mal_total']:.1f} -> {100*(c['mal_rej']-c['mal_spared'])/c['mal_total']:.1f}" if c['mal_total'] else ''
        print(p, sc, f"FPR {100*c['ben_rej']/c['ben_total']:.2f} -> {100*(c['ben_rej']-c['ben_spared'])/c['ben_total']:.2f}{t}")
