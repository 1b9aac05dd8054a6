# Honest rejections by reason code and TPR / FPR of a scan's rounds.jsonl (fedguard scan --out DIR).
# Usage: python3 rejections_by_code.py DIR/rounds.jsonl [...]
import json,sys,collections
for path in sys.argv[1:]:
    c=collections.Counter(); tp=fp=P=N=0; ids=collections.Counter()
    for line in open(path):
        r=json.loads(line); mal=set(r['malicious']) if r['malicious'] and isinstance(r['malicious'][0],str) else set(r['client_ids'][i] for i in r['malicious'])
        for i,cid in enumerate(r['client_ids']):
            rej = not r['accepted'][i]
            if cid in mal: P+=1; tp+=rej
            else: N+=1; fp+=rej
        for rej in r['rejections']:
            if rej['id'] not in mal: c[rej['code']]+=1; ids[(rej['id'],rej['code'])]+=1
    print(path, 'TPR %.4f'%(tp/P if P else 0), 'FP %d/%d = %.3f%%'%(fp,N,100*fp/N), dict(c))
    print('  top', ids.most_common(8))
