#!/usr/bin/env python3
"""Replays the rejected_fraction CUSUM (or another metric's one-sided up CUSUM) of the default
monitoring configuration over the per-round metrics that scripts/run_scenarios.py's runs
recorded in result.json, for other (k, h): what a different threshold would have done to the
false alarms (attack-free and drift runs) and the detection delays (sleeper, ramp). It first
checks that at the default (k 0.5, h 10) it reproduces the engine's alerts exactly (the baseline
is host/monitor/baseline.cc's, written again here in float64).

  scripts/replay_cusum.py RUNS_DIR [METRIC]      # RUNS_DIR: run_scenarios.py's OUT_DIR
"""
import json, math, sys
def med(v):
    v=sorted(v); m=len(v)//2
    return v[m] if len(v)%2 else v[m-1]+(v[m]-v[m-1])/2
def baseline(vals, min_scale):
    median=med(vals); mad=med([abs(v-median) for v in vals])
    floor=min_scale if min_scale>0 else 1e-9*max(1,abs(median))
    cut=3.5*max(1.4826*mad,floor)
    kept=[v for v in vals if abs(v-median)<=cut]
    mean=sum(kept)/len(kept)
    sd=math.sqrt(sum((v-mean)**2 for v in kept)/(len(kept)-1)) if len(kept)>1 else 0
    xs=[min(max(v,median-cut),median+cut)-mean for v in vals]
    den=sum(x*x for x in xs); num=sum(xs[t]*xs[t+1] for t in range(len(xs)-1))
    r=min(max(num/den,0),0.8) if den>0 else 0
    return mean, max(sd*math.sqrt((1+r)/(1-r)),floor)
def cusum_up(series, k, h, warmup=30, min_scale=0.0):
    vals=[]; alerts=[]; S=0; base=None
    for rnd,x in series:
        if x is None: continue
        if base is None:
            vals.append(x)
            if len(vals)==warmup: base=baseline(vals,min_scale)
            continue
        z=(x-base[0])/base[1]; S=max(0,S+z-k)
        if S>h: alerts.append(rnd); S=0
    return alerts
root=sys.argv[1]
metric=sys.argv[2] if len(sys.argv)>2 else 'rejected_fraction'
ms=0.05 if metric=='rejected_fraction' else 0.0
def series(name,s):
    r=json.load(open(f'{root}/{name}_s{s}/result.json'))
    return r, [(x['round'], x['metrics'].get(metric)) for x in r['rounds']]
# fidelity: h=10 reproduces engine alerts
for name in ['monitor_sleeper','monitor_ramp','mpaf_fake_enrolled']:
    for s in [1,2,3]:
        r,ser=series(name,s)
        eng=[a['round'] for x in r['rounds'] for a in x['alerts'] if a['metric']==metric and a['method']=='cusum']
        assert cusum_up(ser,0.5,10,min_scale=ms)==eng,(name,s,cusum_up(ser,0.5,10,min_scale=ms),eng)
print('replay reproduces the engine at h=10')
for k,h in [(0.5,10),(0.5,8),(0.5,6),(0.5,5),(0.5,4),(0.25,8),(0.25,6),(1.0,4)]:
    fa=0
    for name in ['monitor_clean','monitor_drift_resplit','monitor_drift_labels']:
        for s in [1,2,3]:
            fa+=len(cusum_up(series(name,s)[1],k,h,min_scale=ms))
    dl={}
    for name,ch in [('monitor_sleeper',100),('monitor_ramp',100)]:
        d=[]
        for s in [1,2,3]:
            al=cusum_up(series(name,s)[1],k,h,min_scale=ms)
            before=[a for a in al if a<ch]; after=[a for a in al if a>=ch]
            d.append((after[0]-ch if after else None, len(before)))
        dl[name]=d
    print(f'k {k} h {h}: false alarms in 9x500 attack-free rounds {fa}; sleeper (delay, before) {dl["monitor_sleeper"]}; ramp {dl["monitor_ramp"]}')
