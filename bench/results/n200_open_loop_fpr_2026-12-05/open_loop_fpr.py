"""Benign rejections of a `fedguard scan` (rounds.jsonl): FPR over the client-rounds, by reason
code, and the clients rejected most often. Usage: python3 open_loop_fpr.py SCAN/rounds.jsonl"""
import collections
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
code, per, total = collections.Counter(), collections.Counter(), 0
for r in rows:
    malicious = set(r.get("malicious") or [])
    for x in r["rejections"]:
        if x["id"] in malicious:
            continue
        code[x["code"]] += 1
        per[x["id"]] += 1
        total += 1
n = rows[0]["n"]
print(f"rounds {len(rows)} benign rejections {total} FPR {100 * total / (len(rows) * n):.2f}%")
print("by code", code.most_common())
print("most rejected", per.most_common(10))
