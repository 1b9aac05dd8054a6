# Replay an update log through the preset; per client the response coefficient
# r_i(t) = (x_i(t) - x_i(t-1)) . g_(t-1) / |g_(t-1)|^2 (exact) and its count-sketch estimate.
import json, struct, sys, numpy as np
sys.path.insert(0,'/work/main/build/python')
import fedguard
log=sys.argv[1]; R=int(sys.argv[2]); f=int(sys.argv[3]) if len(sys.argv)>3 else 10
def load(t):
    b=open(f'{log}/round_{t:06d}.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); base=8+n
    v=h['updates']; s,e=v['data_offsets']
    X=np.frombuffer(b[base+s:base+e],dtype=np.float32).reshape(v['shape'])
    md=h['__metadata__']; g=lambda k: json.loads(md[k]) if isinstance(md[k],str) else md[k]
    return X, g('client_ids'), g('num_samples'), set(g('malicious'))
eng=fedguard.Engine({"preset":"recommended","f":f})
k=256; rng=np.random.default_rng(7)
prev={}; gprev=None; rows=[]; mal=set()
bucket=None
for t in range(R):
    X,ids,ns,m=load(t); mal|=m
    if bucket is None:
        d=X.shape[1]; bucket=rng.integers(0,k,d); sign=rng.choice([-1.0,1.0],d)
    sk=lambda v: np.bincount(bucket,weights=sign*v,minlength=k)
    res=eng.process_round(X, client_ids=ids, num_samples=ns)
    g=np.asarray(res.aggregate,dtype=np.float64)
    acc=dict(zip(ids,res.accepted))
    Xd=X.astype(np.float64)
    if gprev is not None:
        g2=gprev@gprev; sg=sk(gprev); sg2=sg@sg
        for a,i in enumerate(ids):
            if i in prev:
                dx=Xd[a]-prev[i]
                rows.append((t,i,i in mal,dx@gprev/g2, sk(dx)@sg/sg2, Xd[a]@gprev/np.sqrt(g2)/np.linalg.norm(Xd[a]), acc[i], np.linalg.norm(Xd[a]), np.linalg.norm(prev[i]), np.linalg.norm(dx)))
    prev={i:Xd[a] for a,i in enumerate(ids)}; gprev=g
np.save(sys.argv[4], np.array([(r[0],int(r[1][1:]),r[2],r[3],r[4],r[5],r[6],r[7],r[8],r[9]) for r in rows]))
