# Open-loop evasion probe for history_group: add to each malicious client's update a private,
# persistent random direction of norm c x the round's median honest norm; write a new log.
import json,struct,sys,os,shutil,numpy as np
src,dst,c=sys.argv[1],sys.argv[2],float(sys.argv[3])
os.makedirs(dst,exist_ok=True); shutil.copy(f'{src}/manifest.json',f'{dst}/manifest.json')
rng=np.random.default_rng(11); private=None
for t in range(100):
    p=f'{src}/round_{t:06d}.safetensors'
    raw=open(p,'rb').read(); n=struct.unpack('<Q',raw[:8])[0]; h=json.loads(raw[8:8+n]); base=8+n
    meta=h['__metadata__']; off=h['updates']['data_offsets']; shp=h['updates']['shape']
    x=np.frombuffer(raw[base+off[0]:base+off[1]],dtype=np.float32).reshape(shp).copy()
    ids=json.loads(meta['client_ids']); mal=set(json.loads(meta['malicious']))
    mi=[i for i,k in enumerate(ids) if k in mal]; hi=[i for i,k in enumerate(ids) if k not in mal]
    if private is None:
        private=rng.standard_normal((len(mi),shp[1])); private/=np.linalg.norm(private,axis=1,keepdims=True)
    m=np.median(np.linalg.norm(x[hi],axis=1))
    for q,i in enumerate(mi): x[i]+= (c*m*private[q]).astype(np.float32)
    open(f'{dst}/round_{t:06d}.safetensors','wb').write(raw[:base+off[0]]+x.tobytes()+raw[base+off[1]:])
