# The group search with a higher floor than 2 (the same scans). Output: replay_floor.txt.
import replay_offline as replay
import replay_min_group as sweep2
for fl in [2.0, 2.5, 3.0]:
    replay.FLOOR = fl
    out=[]
    for p in ['/tmp/dg50/none/scan','/tmp/dg50/backdoor/scan','/tmp/af/scan_small','/tmp/r3/backdoor/scan_new','/tmp/r3/label_flip/scan_new']:
        tp,npos,fp,nneg=sweep2.run(p+'/rounds.jsonl',1e-7,0)
        out.append(f'{p.split("/")[2]}/{p.split("/")[3]}: tp {tp}/{npos} fp {fp}/{nneg}')
    print(fl,' | '.join(out))
