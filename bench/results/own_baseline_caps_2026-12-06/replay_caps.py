"""Open-loop replay of the engine's own baselines (accepted rounds only) with other caps per
tail. Spared = every fired signal is norm/sign, and z within cut + habit (clamped to the tail's
cap) on the habit's side; a spared client then counts as accepted for its habit (as it would)."""
import collections, json, sys
RATE, MIN_ROUNDS, MIN_SHARE = 0.1, 5, 0.5
def fired(v):
    out = []
    for s in ("norm","sign","direction","collusion","history","history_direction","spectral_group","history_group","history_response"):
        z, cut = v.get(s+"_z"), v.get(s+"_cut")
        if z is None or cut is None: continue
        if s in ("norm","sign"):
            b = v.get(s+"_baseline", 0.0)
            hit = z > cut + max(b,0) or z < -(cut - min(b,0))
            if s=="norm" and v.get("norm_ratio",0) > 3.0: out.append("norm_cap")
        elif s in ("direction","history_direction"): hit = z < -cut
        elif s in ("collusion","history"): hit = z < -cut and v.get(s,1.0) < 0.25
        else: hit = z > cut
        if hit: out.append(s + ("_hi" if s in ("norm","sign") and z>0 else "_lo" if s in ("norm","sign") else ""))
    return out
def replay(path, caps):
    E = collections.defaultdict(lambda: {"norm":[0.,0.,0], "sign":[0.,0.,0], "share":[0.,0.]})
    c = collections.Counter(); by = collections.Counter()
    for line in open(path):
        r = json.loads(line); mal = set(r["malicious"]); rej = {j["id"]: j for j in r["rejections"]}
        for i, cid in enumerate(r["client_ids"]):
            side = "mal" if cid in mal else "ben"; c[side+"_total"] += 1; e = E[cid]
            accepted = cid not in rej
            if not accepted:
                j = rej[cid]; c[side+"_rej"] += 1
                f = fired(j["values"]) if j["stage"] == "detect" else []
                share = e["share"][0]/e["share"][1] if e["share"][1] > 0 else 0
                ok = bool(f) and all(x in caps for x in f)
                for x in (f if ok else []):
                    s = x[:4]; z = j["values"][s+"_z"]; cut = j["values"][s+"_cut"]
                    a, wa, k = e[s]
                    h = a/wa if (wa > 0 and k >= MIN_ROUNDS and share >= MIN_SHARE) else 0.
                    h = max(-caps[x], min(caps[x], h))
                    ok &= (h>0) == (z>0) and abs(z) <= cut + abs(h)
                c[side+"_spared"] += ok
                accepted = ok
                if not ok: by[(side, j["code"], tuple(f))] += 1
            e["share"][0] = (1-RATE)*e["share"][0] + RATE*accepted; e["share"][1] = (1-RATE)*e["share"][1] + RATE
            if accepted:
                for s in ("norm","sign"):
                    z = r["scores"]["detect_"+s][i]
                    if z is None: continue
                    e[s][0] = (1-RATE)*e[s][0] + RATE*z; e[s][1] = (1-RATE)*e[s][1] + RATE; e[s][2] += 1
    return c, by
if __name__ == "__main__":
    caps = {}
    for kv in sys.argv[1].split(","):
        k, v = kv.split("="); caps[k] = float(v)
    for p in sys.argv[2:]:
        c, by = replay(p, caps)
        f0 = 100*c["ben_rej"]/c["ben_total"]; f1 = 100*(c["ben_rej"]-c["ben_spared"])/c["ben_total"]
        t = ""
        if c["mal_total"]:
            t = f"  TPR {100*c['mal_rej']/c['mal_total']:.1f} -> {100*(c['mal_rej']-c['mal_spared'])/c['mal_total']:.1f}"
        print(f"{p}: {sys.argv[1]}: FPR {f0:.2f} -> {f1:.2f}{t}")
