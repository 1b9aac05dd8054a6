"""Benign rejections of simulator runs (each cell's result.json: per round flagged_ids and
rejections by code): mean FPR, rejections by code, the clients flagged most often.
Usage: python3 closed_loop_fpr.py CELL/result.json ..."""
import json, sys, collections
for path in sys.argv[1:]:
    r=json.load(open(path)); rounds=r["rounds"]
    code=collections.Counter(); per=collections.Counter(); tot=0; nb=0
    for x in rounds:
        ids=x.get("flagged_ids") or []
        tot+=len(ids); 
        for k,v in (x.get("rejections") or {}).items(): code[k]+=v
        for i in ids: per[i]+=1
    n=r["config"].get("clients") if "clients" in r["config"] else None
    print(path.split("/")[-5], "FPR mean %.2f%%"%(100*sum(x["fpr"] for x in rounds)/len(rounds)), "rejections",tot, code.most_common())
    print("   top", per.most_common(10), "ever", len(per))
