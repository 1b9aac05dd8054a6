"""The read-once record: base (06c5672, two reads) against new (one read), alternating runs of
bench/compare.py (run_grid.sh, run_small.sh); per cell each run's median, the ratio of the
medians over the runs, and the copy floor. Usage: python3 summarize.py grid|small"""
import glob, json, statistics, sys
root = sys.argv[1]
rows = {}
copies = {}
for which in ("base", "new"):
    for rep in (1, 2, 3):
        for f in glob.glob(f"{root}/{which}_{rep}.json"):
            j = json.load(open(f))
            for r in j["records"]:
                if r["status"] != "ok":
                    continue
                key = (r["n"], r["d"], r["rule"], r["impl"])
                rows.setdefault(key, {}).setdefault(which, []).append(r["median_ms"])
            for fl in j["floors"]:
                if fl.get("kind") == "copy" and fl["status"] == "ok":
                    copies.setdefault((fl["n"], fl["d"]), []).append(fl["median_ms"])
print("| n | d | rule | implementation | two reads (base), ms | one read, ms | ratio | copy, ms | one read / copy |")
print("| --: | --: | --- | --- | --: | --: | --: | --: | --: |")
for key in sorted(rows):
    n, d, rule, impl = key
    v = rows[key]
    if "base" not in v or "new" not in v:
        continue
    b, nw = statistics.median(v["base"]), statistics.median(v["new"])
    c = statistics.median(copies.get((n, d), [float("nan")]))
    bs = " / ".join(f"{x:.3g}" for x in v["base"])
    ns = " / ".join(f"{x:.3g}" for x in v["new"])
    print(f"| {n} | {d:.0e} | {rule} | {impl} | {bs} | {ns} | {nw / b:.2f} | {c:.3g} | {nw / c:.2f} |")
