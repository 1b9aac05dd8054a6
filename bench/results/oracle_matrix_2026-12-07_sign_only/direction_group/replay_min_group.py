# The group search with a size floor (g >= ceil(minfrac m)), replayed on the scans of this
# session's logs (the /tmp paths below; the logs, 1-4 GB each, are not kept). Output: replay_min_group.txt.
import replay_offline as replay, math  # replay_offline.py beside this file
def run(path, alpha, minfrac):
    import json
    tp=fp=npos=nneg=0
    for line in open(path):
        r=json.loads(line); ids=r['client_ids']; mal=set(r['malicious']); v=r['scores'].get('detect_direction')
        if v is None: continue
        idx=[i for i,x in enumerate(v) if x is not None]; z=[v[i] for i in idx]
        replay.MIN_G=max(3, math.ceil(minfrac*len(z)))
        g=replay.groups(z, alpha, int(0.5*(len(z)-1)))
        named={ids[idx[q]] for q in g}
        for c in ids:
            if c in mal: npos+=1; tp+=c in named
            else: nneg+=1; fp+=c in named
    return tp, npos, fp, nneg
if __name__ == "__main__":
  for mf in [0, 0.1, 0.15, 0.2]:
     out=[]
     for p in ['/tmp/dg50/none/scan','/tmp/dg50/backdoor/scan','/tmp/af/scan_small','/tmp/r3/backdoor/scan_new','/tmp/r3/label_flip/scan_new']:
         tp,npos,fp,nneg=run(p+'/rounds.jsonl',1e-7,mf)
         out.append(f'{p.split("/")[2]}/{p.split("/")[3]}: tp {tp}/{npos} fp {fp}/{nneg}')
     print(mf,' | '.join(out))
