import json,glob
for dg in sorted(glob.glob('*_all.dg')):
    name=dg[:-3]
    r=json.load(open(name+'.out/result.json'))
    mal=set(int(c[1:]) for c in r['setup']['malicious_clients'])
    hon=[];bad=[]
    for line in open(dg):
        if not line.startswith('ALIGN'): continue
        t=line.split(); a=float(t[1]); rows=list(map(int,t[t.index('rows')+1:]))
        fm=sum(x in mal for x in rows)/len(rows)
        (bad if fm>=0.5 else hon).append((a,len(rows)))
    def q(v):
        v=sorted(x[0] for x in v)
        return '-' if not v else '%.2f/%.2f/%.2f/%.2f/%.2f'%(v[0],v[len(v)//10],v[len(v)//2],v[9*len(v)//10],v[-1])
    print('%-28s honest %3d %s   mal %3d %s'%(name,len(hon),q(hon),len(bad),q(bad)), 'honest<0.7:',sorted(round(x[0],2) for x in hon if x[0]<0.75))
