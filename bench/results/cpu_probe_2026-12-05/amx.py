import torch, time
torch.manual_seed(0)
n,d=100,1_000_000
X=torch.randn(n,d)
def t(f,r=7):
    f(); best=1e9
    for _ in range(r):
        t0=time.perf_counter(); f(); best=min(best,time.perf_counter()-t0)
    return best*1e3
print("threads",torch.get_num_threads(), torch.backends.mkldnn.is_available())
print("fp32 X@X.T %.1f ms"%t(lambda: X@X.T))
Xb=X.bfloat16()
print("bf16 X@X.T %.1f ms"%t(lambda: Xb@Xb.T))
def split():
    hi=X.bfloat16(); lo=(X-hi.float()).bfloat16(); return hi,lo
print("split %.1f ms"%t(split))
hi,lo=split()
A=torch.cat([hi,hi,lo],1); B=torch.cat([hi,lo,hi],1)
print("bf16x3 concat gemm %.1f ms"%t(lambda: A@B.T))
G=(A.float()@B.float().T) if False else (A@B.T).float()
ref=(X.double()@X.double().T)
G32=X@X.T
Xc=X-X.mean(0)
print("rel err fp32 %.2e bf16x3 %.2e"%(((G32.double()-ref).abs().max()/ref.abs().max()).item(), ((G.double()-ref).abs().max()/ref.abs().max()).item()))
