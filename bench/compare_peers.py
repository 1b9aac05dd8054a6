"""The implementations that bench/compare.py times side by side: fedguard and its peers.

Each implementation is an `Impl`: a name, a family (fedguard, byzfl, flower, torch, floor), a
device, the rules it has, and `prepare(cell, rule)` which returns a zero-argument callable that
runs one aggregation on the cell's data and returns its result (for CUDA implementations the
callable synchronises the device before it returns, so wall-clock timing is right). Everything
that a user would already hold before calling the peer (their input type: a numpy block, a list
of per-client arrays for Flower, a tensor on the device for resident CUDA runs) is built in
`prepare` and not timed.

Parameters, mapped so that every implementation computes the same function (f = the assumed
number of Byzantine clients, `f_of(n)`; checked in tests/python/test_bench_compare.py):

| rule | fedguard | byzfl 0.0.11 | Flower 1.42 (flwr.server.strategy.aggregate) | torch (idiomatic) |
| --- | --- | --- | --- | --- |
| krum | krum f | Krum(f+1) (it counts n-f-1 neighbours) | aggregate_krum(num_malicious=f, to_keep=0) | X @ X.T distances, sort, argmin |
| multi_krum | multi_krum f, m=n-f-1 | MultiKrum(f+1) (keeps n-f-1) | aggregate_krum(f, to_keep=n-f-1) | same scores, mean of m lowest |
| median | median | Median() | aggregate_median | torch.median(dim=0) (lower middle for even n) |
| trimmed_mean | trimmed_mean trim=f | TrMean(f) | aggregate_trimmed_avg(proportiontocut=f/n) | sort(dim=0), rows f..n-f, mean |
| bulyan | bulyan f | (none) | aggregate_bulyan(f, aggregate_krum, to_keep=0) | Gram once, theta Krum steps, median, beta closest |
| geometric_median | geometric_median nu=1e-6 (to convergence, on the Gram) | GeometricMedian(nu=1e-6, T=GM_ITERS) | (none) | GM_ITERS Weiszfeld steps on X |
| pca_outlier | pca_outlier filter (k=2, z=3.5), then mean | (none) | (none) | centred Gram, torch.linalg.eigh, same scores, mean |

The peers' geometric median runs a fixed GM_ITERS steps over the n x d data (byzfl's own
interface); fedguard iterates to convergence on the n x n Gram, so its result is the converged
one and the peers' is not: this favours the peers.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

GM_ITERS = 10
GM_NU = 1e-6
PCA_K = 2
PCA_Z = 3.5

GRAM_RULES = ("krum", "multi_krum", "bulyan", "geometric_median", "pca_outlier")
COORD_RULES = ("median", "trimmed_mean")
ALL_RULES = ("krum", "multi_krum", "median", "trimmed_mean", "bulyan", "geometric_median", "pca_outlier")


def f_of(n: int) -> int:
    """Assumed Byzantine count: n/10, at least 1 (bulyan needs n >= 4f+3: n >= 7)."""
    return max(1, n // 10)


# ----------------------------------------------------------------------------------------------
# the data of one cell


class Cell:
    """One (n, d) matrix in the forms the implementations take; forms are made on first use."""

    def __init__(self, n: int, d: int, seed: int = 0):
        self.n, self.d = n, d
        rng = np.random.default_rng(seed)
        # Benign updates around a common direction, plus f sign-flipped, boosted attackers: the
        # rules then have something to decide (timings barely depend on it).
        x = rng.standard_normal((n, d), dtype=np.float32)
        x += np.float32(0.1)
        f = f_of(n)
        x[:f] *= np.float32(-5.0)
        self.x = x
        self._forms: dict = {}

    def form(self, key: str):
        if key not in self._forms:
            self._forms[key] = self._make(key)
        return self._forms[key]

    def _make(self, key: str):
        if key == "f16":
            return self.x.astype(np.float16)
        if key == "flower_results":
            return [([row], 1) for row in self.x]  # per-client NDArrays (views), num_examples 1
        import torch

        if key == "torch_cpu":
            return torch.from_numpy(self.x)  # shares memory
        if key == "torch_cuda":
            return torch.from_numpy(self.x).to("cuda")
        if key == "torch_cuda_f16":
            return self.form("torch_cuda").half()
        if key == "torch_pinned":
            return torch.from_numpy(self.x).pin_memory()
        raise KeyError(key)

    def drop(self, key: str) -> None:
        self._forms.pop(key, None)

    def release(self) -> None:
        self._forms.clear()
        self.x = None


# ----------------------------------------------------------------------------------------------
# implementations


@dataclass
class Impl:
    name: str
    family: str  # fedguard | byzfl | flower | torch | floor
    device: str  # cpu | cuda
    rules: tuple
    make: Callable  # (cell, rule) -> callable
    dtype: str = "fp32"
    # Peak extra host memory as a multiple of the input's float32 bytes (for skipping cells that
    # would not fit), and how the time grows with n for Gram-type rules (for predicting).
    mem_factor: float = 0.0
    n_power: dict = field(default_factory=dict)
    version: str = ""
    note: str = ""
    shapes: Optional[tuple] = None  # only these (n, d); None: every cell

    def prepare(self, cell: Cell, rule: str):
        return self.make(cell, rule)

    def power(self, rule: str) -> float:
        return self.n_power.get(rule, 2.0 if rule in GRAM_RULES else 1.0)


def _sync_cuda():
    import torch

    torch.cuda.synchronize()


def _cuda_wrap(fn):
    def run():
        out = fn()
        _sync_cuda()
        return out

    return run


# ---- fedguard


def fedguard_policy(rule: str, n: int) -> dict:
    f = f_of(n)
    if rule == "krum":
        agg = {"rule": "krum", "f": f}
    elif rule == "multi_krum":
        agg = {"rule": "multi_krum", "f": f, "m": n - f - 1}
    elif rule == "median":
        agg = {"rule": "median"}
    elif rule == "trimmed_mean":
        agg = {"rule": "trimmed_mean", "trim": f}
    elif rule == "bulyan":
        agg = {"rule": "bulyan", "f": f}
    elif rule == "geometric_median":
        agg = {"rule": "geometric_median", "nu": GM_NU}
    elif rule == "pca_outlier":
        return {"filters": [{"rule": "pca_outlier", "k": PCA_K, "z": PCA_Z}], "aggregator": {"rule": "mean"}}
    else:
        raise KeyError(rule)
    return {"aggregator": agg}


def fedguard_impls(fedguard_module, want_cuda: bool) -> list:
    fg = fedguard_module
    version = fg.version()
    last_timings: dict = {}

    def cpu_maker(dtype, threads=0):
        def make(cell: Cell, rule: str):
            engine = fg.Engine({"backend": "cpu", "threads": threads, **fedguard_policy(rule, cell.n)})
            x = cell.x if dtype == "fp32" else cell.form("f16")

            def run():
                r = engine.process_round(x)
                last_timings.clear()
                last_timings.update(r.timings_ms)
                return r.aggregate

            return run

        return make

    impls = [
        Impl("fedguard cpu", "fedguard", "cpu", ALL_RULES, cpu_maker("fp32"), version=version),
        Impl("fedguard cpu fp16", "fedguard", "cpu", ALL_RULES, cpu_maker("fp16"), dtype="fp16",
             mem_factor=0.5, version=version),
        # One thread, at the goal's shape only: how much of the lead over the single-threaded
        # numpy peers is parallelism.
        Impl("fedguard cpu 1 thread", "fedguard", "cpu", ("krum", "multi_krum", "median", "trimmed_mean"),
             cpu_maker("fp32", threads=1), version=version, shapes=((100, 1_000_000),)),
    ]
    if want_cuda:
        def cuda_maker(mode, dtype):
            def make(cell: Cell, rule: str):
                engine = fg.Engine({"backend": "cuda", **fedguard_policy(rule, cell.n)})
                if mode == "resident":
                    x = cell.form("torch_cuda" if dtype == "fp32" else "torch_cuda_f16")
                else:
                    x = cell.x if dtype == "fp32" else cell.form("f16")

                def run():
                    r = engine.process_round(x)
                    _sync_cuda()
                    last_timings.clear()
                    last_timings.update(r.timings_ms)
                    return r.aggregate

                return run

            return make

        for mode in ("resident", "streamed"):
            for dtype in ("fp32", "fp16"):
                suffix = "" if dtype == "fp32" else " fp16"
                impls.append(Impl(f"fedguard cuda {mode}{suffix}", "fedguard", "cuda", ALL_RULES,
                                  cuda_maker(mode, dtype), dtype=dtype, version=version,
                                  note="input in device memory" if mode == "resident" else
                                  "input in pageable host memory, streamed to the device"))
    for impl in impls:
        impl.last_timings = last_timings
    return impls


# ---- byzfl


def load_byzfl_aggregators():
    """byzfl.aggregators without byzfl/__init__ (which imports its training framework)."""
    spec = importlib.util.find_spec("byzfl")
    if spec is None:
        raise ImportError("byzfl is not installed (pip install --no-deps byzfl==0.0.11)")
    if "byzfl.aggregators" in sys.modules:
        return sys.modules["byzfl.aggregators"]
    if "byzfl" not in sys.modules:
        package = types.ModuleType("byzfl")
        package.__path__ = [str(Path(spec.submodule_search_locations[0]))]
        sys.modules["byzfl"] = package
    return importlib.import_module("byzfl.aggregators")


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - metadata may be missing for carried copies
        return "unknown"


def byzfl_impls(devices) -> list:
    agg = load_byzfl_aggregators()
    version = _dist_version("byzfl")

    def build(rule, n):
        f = f_of(n)
        return {
            "krum": lambda: agg.Krum(f=f + 1),
            "multi_krum": lambda: agg.MultiKrum(f=f + 1),
            "median": lambda: agg.Median(),
            "trimmed_mean": lambda: agg.TrMean(f=f),
            "geometric_median": lambda: agg.GeometricMedian(nu=GM_NU, T=GM_ITERS),
        }[rule]()

    rules = ("krum", "multi_krum", "median", "trimmed_mean", "geometric_median")

    def maker(form):
        def make(cell: Cell, rule: str):
            a = build(rule, cell.n)
            x = cell.x if form == "numpy" else cell.form(form)
            fn = lambda: a(x)  # noqa: E731
            return _cuda_wrap(fn) if form == "torch_cuda" else fn

        return make

    # numpy: scipy's cdist works in float64 (2x the input), np.sort / np.median copy the input.
    impls = [Impl("byzfl numpy", "byzfl", "cpu", rules, maker("numpy"), mem_factor=2.5, version=version),
             Impl("byzfl torch", "byzfl", "cpu", rules, maker("torch_cpu"), mem_factor=3.5, version=version)]
    if "cuda" in devices:
        impls.append(Impl("byzfl torch cuda", "byzfl", "cuda", rules, maker("torch_cuda"), version=version))
    return impls


# ---- Flower


def load_flower_aggregate():
    """flwr.server.strategy.aggregate; where Flower's server dependencies are missing (the GPU
    image), the same file from an unpacked flwr wheel (FEDGUARD_COMPARE_FLWR_DIR) with
    stand-ins for the two type-only imports it makes."""
    try:
        return importlib.import_module("flwr.server.strategy.aggregate"), _dist_version("flwr")
    except ImportError:
        root = os.environ.get("FEDGUARD_COMPARE_FLWR_DIR")
        if not root:
            raise
    path = Path(root) / "flwr" / "server" / "strategy" / "aggregate.py"
    common = types.ModuleType("flwr.common")
    common.FitRes = object
    common.NDArray = np.ndarray
    common.NDArrays = list
    common.parameters_to_ndarrays = None
    proxy = types.ModuleType("flwr.server.client_proxy")
    proxy.ClientProxy = object
    saved = {k: sys.modules.get(k) for k in ("flwr", "flwr.common", "flwr.server", "flwr.server.client_proxy")}
    for k in ("flwr", "flwr.server"):
        sys.modules.setdefault(k, types.ModuleType(k))
    sys.modules["flwr.common"] = common
    sys.modules["flwr.server.client_proxy"] = proxy
    try:
        spec = importlib.util.spec_from_file_location("flwr_aggregate_standalone", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    version = "unknown"
    for meta in Path(root).glob("flwr-*.dist-info"):
        version = meta.name[len("flwr-"):-len(".dist-info")] + " (standalone aggregate.py)"
    return module, version


def flower_impls() -> list:
    a, version = load_flower_aggregate()

    def make(cell: Cell, rule: str):
        n, f = cell.n, f_of(cell.n)
        results = cell.form("flower_results")
        if rule == "krum":
            return lambda: a.aggregate_krum(results, num_malicious=f, to_keep=0)[0]
        if rule == "multi_krum":
            return lambda: a.aggregate_krum(results, num_malicious=f, to_keep=n - f - 1)[0]
        if rule == "median":
            return lambda: a.aggregate_median(results)[0]
        if rule == "trimmed_mean":
            return lambda: a.aggregate_trimmed_avg(results, proportiontocut=f / n)[0]
        if rule == "bulyan":
            # aggregate_bulyan pops from the list it is given: hand it a fresh one.
            return lambda: a.aggregate_bulyan(list(results), num_malicious=f,
                                              aggregation_rule=a.aggregate_krum, to_keep=0)[0]
        raise KeyError(rule)

    # Krum's distance loop computes x_i - x_j for every ordered pair; Bulyan repeats the whole
    # Krum n - 2f times, so its time grows with n^3 d.
    return [Impl("flower", "flower", "cpu", ("krum", "multi_krum", "median", "trimmed_mean", "bulyan"), make,
                 mem_factor=2.2, n_power={"bulyan": 3.0}, version=version)]


# ---- idiomatic PyTorch


def torch_rules():
    import torch

    def sq_dists(x):
        g = x @ x.T
        sq = torch.diagonal(g)
        return (sq[:, None] + sq[None, :] - 2 * g).clamp_min_(0)

    def krum_scores(dist, f):
        n = dist.shape[0]
        k = n - f - 2
        return torch.sort(dist, dim=1).values[:, 1:k + 1].sum(dim=1)  # column 0: self (0)

    def krum(x, f):
        return x[torch.argmin(krum_scores(sq_dists(x), f))]

    def multi_krum(x, f):
        n = x.shape[0]
        idx = torch.topk(krum_scores(sq_dists(x), f), n - f - 1, largest=False).indices
        return x[idx].mean(dim=0)

    def median(x, f):
        return torch.median(x, dim=0).values

    def trimmed_mean(x, f):
        n = x.shape[0]
        return torch.sort(x, dim=0).values[f:n - f].mean(dim=0)

    def bulyan(x, f):
        n = x.shape[0]
        dist = sq_dists(x)
        remaining = list(range(n))
        selected = []
        for _ in range(n - 2 * f):
            r = torch.tensor(remaining, device=x.device)
            sub = dist[r][:, r]
            k = max(1, min(len(remaining) - f - 2, len(remaining) - 1))
            scores = torch.sort(sub, dim=1).values[:, 1:k + 1].sum(dim=1)
            selected.append(remaining.pop(int(torch.argmin(scores))))
        s = x[torch.tensor(selected, device=x.device)]
        m = len(selected)
        med = s.sort(dim=0).values[[(m - 1) // 2, m // 2]].mean(dim=0)  # mean of the two middles
        beta = len(selected) - 2 * f
        idx = torch.topk((s - med).abs(), beta, dim=0, largest=False).indices
        return torch.gather(s, 0, idx).mean(dim=0)

    def geometric_median(x, f):
        z = x.mean(dim=0)
        for _ in range(GM_ITERS):
            w = 1.0 / torch.linalg.vector_norm(x - z, dim=1).clamp_min(GM_NU)
            z = (w[:, None] * x).sum(dim=0) / w.sum()
        return z

    def pca_outlier(x, f):
        n = x.shape[0]
        xc = x - x.mean(dim=0)
        g = (xc @ xc.T).double()
        evals, evecs = torch.linalg.eigh(g)
        lam, u = evals[-PCA_K:], evecs[:, -PCA_K:]
        t2 = (u * u) * lam
        resid = torch.diagonal(g) - t2.sum(dim=1)
        maha = (n - 1) * (u * u).sum(dim=1)

        def z(v):
            med = torch.quantile(v, 0.5)  # mean of the two middles, like fedguard
            dev = (v - med).abs()
            scale = 1.4826 * torch.quantile(dev, 0.5)
            if not scale > 0:
                scale = 1.2533 * dev.mean()
            return (v - med) / scale if scale > 0 else torch.zeros_like(v)

        keep = torch.maximum(z(resid), z(maha)) <= PCA_Z
        return x[keep].mean(dim=0)

    return dict(krum=krum, multi_krum=multi_krum, median=median, trimmed_mean=trimmed_mean, bulyan=bulyan,
                geometric_median=geometric_median, pca_outlier=pca_outlier)


def torch_impls(devices) -> list:
    import torch

    rules = torch_rules()

    def maker(form):
        def make(cell: Cell, rule: str):
            x = cell.form(form)
            f = f_of(cell.n)
            fn = lambda: rules[rule](x, f)  # noqa: E731
            return _cuda_wrap(fn) if form == "torch_cuda" else fn

        return make

    # torch.sort returns int64 indices next to the values: 3x the input.
    impls = [Impl("torch", "torch", "cpu", ALL_RULES, maker("torch_cpu"), mem_factor=3.2, version=torch.__version__)]
    if "cuda" in devices:
        impls.append(Impl("torch cuda", "torch", "cuda", ALL_RULES, maker("torch_cuda"), version=torch.__version__,
                          note="input in device memory"))
    return impls


# ----------------------------------------------------------------------------------------------
# floors: what no implementation of a rule can beat on this machine


@dataclass
class Floor:
    name: str
    device: str
    kind: str  # copy | gemm | h2d | eigh
    make: Callable  # cell -> callable
    bytes_moved: Callable = None  # cell -> bytes (for GB/s)
    mem_factor: float = 1.0
    note: str = ""


def floors(devices) -> list:
    out = []

    def np_copy(cell):
        dst = np.empty_like(cell.x)
        return lambda: np.copyto(dst, cell.x)

    def np_gemm(cell):
        x = cell.x
        return lambda: x @ x.T

    out.append(Floor("memcpy (numpy copyto)", "cpu", "copy", np_copy, lambda c: 2 * c.x.nbytes,
                     note="read + write of the n x d float32 input"))
    out.append(Floor("GEMM X @ X.T (numpy)", "cpu", "gemm", np_gemm, mem_factor=0.0))
    try:
        import torch
    except ImportError:
        return out

    def t_gemm(cell):
        x = cell.form("torch_cpu")
        return lambda: x @ x.T

    def t_eigh(cell):
        x = cell.form("torch_cpu")
        g = (x @ x.T).double()
        return lambda: torch.linalg.eigh(g)

    out.append(Floor("GEMM X @ X.T (torch)", "cpu", "gemm", t_gemm, mem_factor=0.0))
    out.append(Floor("eigh of the n x n Gram (torch, float64)", "cpu", "eigh", t_eigh, mem_factor=0.0))
    if "cuda" in devices:
        def d2d(cell):
            x = cell.form("torch_cuda")
            y = torch.empty_like(x)
            return _cuda_wrap(lambda: y.copy_(x))

        def c_gemm(cell):
            x = cell.form("torch_cuda")
            return _cuda_wrap(lambda: x @ x.T)

        def h2d_pinned(cell):
            src = cell.form("torch_pinned")
            dst = torch.empty(src.shape, dtype=src.dtype, device="cuda")
            return _cuda_wrap(lambda: dst.copy_(src, non_blocking=True))

        def h2d_pageable(cell):
            src = cell.form("torch_cpu")
            dst = torch.empty(src.shape, dtype=src.dtype, device="cuda")
            return _cuda_wrap(lambda: dst.copy_(src))

        out.append(Floor("device-to-device copy (torch)", "cuda", "copy", d2d, lambda c: 2 * c.x.nbytes,
                         mem_factor=0.0, note="read + write in device memory"))
        out.append(Floor("GEMM X @ X.T (torch cuda, fp32)", "cuda", "gemm", c_gemm, mem_factor=0.0))
        out.append(Floor("host-to-device copy, pinned", "cuda", "h2d", h2d_pinned, lambda c: c.x.nbytes,
                         mem_factor=1.0))
        out.append(Floor("host-to-device copy, pageable", "cuda", "h2d", h2d_pageable, lambda c: c.x.nbytes,
                         mem_factor=0.0))
    return out


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def discover(fedguard_module, devices, families) -> tuple:
    """All implementations and floors this machine has; a dict family -> reason for the missing."""
    impls, missing = [], {}
    if "fedguard" in families:
        want_cuda = "cuda" in devices and "cuda" in fedguard_module.backends_built()
        if "cuda" in devices and not want_cuda:
            missing["fedguard cuda"] = "this fedguard build has no CUDA backend (backends_built() = %s)" % (
                fedguard_module.backends_built(),)
        impls += fedguard_impls(fedguard_module, want_cuda)
    for fam, fn in (("byzfl", lambda: byzfl_impls(devices)), ("flower", flower_impls),
                    ("torch", lambda: torch_impls(devices))):
        if fam not in families:
            continue
        try:
            impls += fn()
        except ImportError as e:
            missing[fam] = f"not installed ({e})"
    return impls, floors(devices), missing
