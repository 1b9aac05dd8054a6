import json,sys,collections
for f in sys.argv[1:]:
    rows=[json.loads(l) for l in open(f+'/rounds.jsonl')]
    tp=fp=P=N=0; codes=collections.Counter()
    for r in rows:
        mal=set(r['malicious']); rej={x['id']:x['code'] for x in r['rejections']}
        for c in r['client_ids']:
            if c in mal: P+=1; tp+= c in rej; 
            else: N+=1; fp+= c in rej
        for c,k in rej.items():
            if c in mal: codes[k]+=1
    print(f,'TPR %.2f%% FPR %.2f%%'%(100*tp/max(P,1),100*fp/N), codes.most_common(6))
