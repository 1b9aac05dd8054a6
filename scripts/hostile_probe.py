#!/usr/bin/env python3
"""Adversarial probe of every input surface (issue 17, docs/security.md): generates hostile
inputs for `fedguard round` (updates, config, num-samples, ids, reference, state, registry and
signatures), `fedguard scan`, `fedguard monitor`, `fedguard keys` and the Python API, runs each
with a timeout and classifies the outcome.

Clean outcomes: a result (exit 0 / a return value) with every aggregate finite, a named
rejection, or a clean error (CLI exit 2, 3 or 4 with a `fedguard: error (...)` message; Python
fedguard.Error / ValueError / OSError, or TypeError for an argument of a wrong Python type).
Findings: a signal death (crash), a timeout (hang), exit 1 or any other code, an expected error
that did not happen (silent acceptance), NaN/Inf in an aggregate, a pybind11 signature TypeError,
RuntimeError "unexpected error", and internal messages leaking out (std::bad_alloc,
vector::_M_..., json.exception..., RecursionError).

Usage: scripts/hostile_probe.py --cli build/bin/fedguard [--quick] [--json OUT] [--only SURFACE]
The Python cases import the `fedguard` found on PYTHONPATH (e.g. build/python). Exit status 1
when there is any finding. tests/python/test_hostile_probe.py runs the --quick mode.
"""
import argparse
import collections
import json
import os
import select
import stat
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

LEAKS = ("bad_alloc", "vector::", "_M_", "json.exception", "basic_string", "std::", "terminate called",
         "unexpected error", "what():", "Traceback", "RecursionError", "stoull", "stoi", "stod")
MAX64 = 2**64 - 1


# ----------------------------------------------------------------------------------------------
# Cases. A case is a dict: surface, name, kind ("cli" or "py"), expect (set of clean outcome
# classes: "ok", "reject", "error"), plus argv (cli) or code (py, a Python snippet run in the
# worker with `fg`, `np`, `W` (the work directory) in scope; `result` may be set to a value whose
# aggregate is checked). "reject" means: a result in which at least one client is rejected with a
# reason code (given as `codes`, any when empty).
# ----------------------------------------------------------------------------------------------

def npy_bytes(arr=None, header=None, data=None, version=(1, 0), magic=b"\x93NUMPY"):
    if arr is not None:
        import io
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    text = header.encode() if isinstance(header, str) else header
    if version[0] == 1:
        hl = struct.pack("<H", len(text))
    else:
        hl = struct.pack("<I", len(text))
    return magic + bytes(version) + hl + text + (data or b"")


def safetensors_bytes(tensors, metadata=None, header_override=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, arr, dtype in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = header_override if header_override is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


class Builder:
    def __init__(self, work, quick):
        self.work = work
        self.quick = quick
        self.cases = []
        self.counter = 0
        os.makedirs(work, exist_ok=True)

    def path(self, name):
        return os.path.join(self.work, name)

    def file(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return p

    def fresh(self, suffix):
        self.counter += 1
        return self.path(f"f{self.counter:05d}{suffix}")

    def cli(self, surface, name, argv, expect, codes=(), agg=None, check=None, timeout=None):
        self.cases.append(dict(surface=surface, name=name, kind="cli", argv=argv, expect=set(expect),
                               codes=tuple(codes), agg=agg, check=check, timeout=timeout))

    def py(self, surface, name, code, expect, codes=(), errors=("value",), timeout=None):
        self.cases.append(dict(surface=surface, name=name, kind="py", code=code, expect=set(expect),
                               codes=tuple(codes), errors=tuple(errors), timeout=timeout))


def rng_updates(n, d, seed=0):
    return (np.random.default_rng(seed).normal(0.1, 1.0, size=(n, d))).astype(np.float32)


# Integer parameters of every rule (docs/config.md, "Rules by slot"): (rule, param, slot, other
# required params, n the valid round needs).
INT_PARAMS = [
    ("trimmed_mean", "trim", "aggregator", {}), ("krum", "f", "aggregator", {}),
    ("multi_krum", "f", "aggregator", {}), ("multi_krum", "m", "aggregator", {"f": 1}),
    ("bulyan", "f", "aggregator", {}), ("geometric_median", "max_iter", "aggregator", {}),
    ("centered_clipping", "iterations", "aggregator", {}), ("arc", "f", "transforms", {}),
    ("nnm", "f", "transforms", {}), ("dnc", "f", "filters", {}), ("dnc", "subset_size", "filters", {"f": 1}),
    ("dnc", "niters", "filters", {"f": 1}), ("dnc", "seed", "filters", {"f": 1}),
    ("pca_outlier", "k", "filters", {}), ("flame", "seed", "filters", {}),
    ("flame", "min_cluster_size", "filters", {}), ("fldetector", "window", "filters", {}),
    ("fldetector", "min_pairs", "filters", {}), ("fldetector", "max_clusters", "filters", {}),
    ("fldetector", "references", "filters", {}), ("fldetector", "seed", "filters", {}),
    ("reputation", "min_rounds", "filters", {}), ("krum", "f", "filters", {}),
    ("multi_krum", "f", "filters", {}), ("bulyan", "f", "filters", {}),
]
NUM_PARAMS = [
    ("geometric_median", "nu", "aggregator", {}), ("geometric_median", "tol", "aggregator", {}),
    ("centered_clipping", "tau", "aggregator", {}), ("norm_clip", "max_norm", "transforms", {}),
    ("norm_bound", "max_norm", "filters", {}), ("norm_bound", "min_ratio", "filters", {}),
    ("dnc", "c", "filters", {"f": 1}), ("pca_outlier", "z", "filters", {}),
    ("flame", "lambda", "filters", {}), ("signguard", "lower", "filters", {}),
    ("signguard", "upper", "filters", {}), ("signguard", "bandwidth", "filters", {}),
    ("foolsgold", "kappa", "aggregator", {}), ("reputation", "min", "filters", {}),
]


def policy_with(rule, param, slot, extra, value_text):
    """Config text with `rule` in `slot` and `param` set to the raw JSON `value_text`."""
    entry = dict(extra)
    entry["rule"] = rule
    body = json.dumps(entry)[:-1] + f', "{param}": {value_text}}}'
    if slot == "aggregator":
        return '{"aggregator": ' + body + ', "monitoring": false}'
    return '{"' + slot + '": [' + body + '], "aggregator": {"rule": "mean"}, "monitoring": false}'


def build_cases(b):
    W = b.work
    good = rng_updates(15, 8)
    upd = b.file("good.npy", npy_bytes(good))
    mean_cfg = b.file("mean.json", '{"aggregator": {"rule": "mean"}, "monitoring": false}')
    median_cfg = b.file("median.json", '{"aggregator": {"rule": "median"}}')

    def round_argv(updates=upd, config=mean_cfg, *more):
        return ["round", "--updates", updates, "--config", config, *more]

    # ---------- round: updates files: dtypes ----------
    for dt in ["<f4", "<f2", ">f4", "<f8", "<i1", "<i2", "<i4", "<i8", "<u1", "<u2", "<u4", "<u8", "|b1",
               "<c8", "<c16", "<U3", "|S4", "<m8[s]", "<M8[D]", "|V2", "<f16" if hasattr(np, "float128") else "<f8"]:
        try:
            arr = good.astype(dt) if not dt.startswith(("<U", "|S", "|V", "<m", "<M")) else np.zeros((15, 8), dtype=dt)
        except (TypeError, ValueError):
            continue
        if dt == "|V2":
            data = npy_bytes(header="{'descr': '|V2', 'fortran_order': False, 'shape': (15, 8), }".ljust(117) + "\n",
                             data=b"\0" * 240)
        else:
            data = npy_bytes(arr)
        p = b.file(f"dtype_{dt.strip('<>|[]').replace('[', '')}_{len(b.cases)}.npy", data)
        exp = {"ok"} if dt in ("<f4", "<f2") else {"error"}
        b.cli("round.updates", f"dtype {dt}", round_argv(p), exp, agg=True)
    # ---------- round: row values under every aggregator ----------
    rules = [("mean", {}), ("median", {}), ("trimmed_mean", {"trim": 2}), ("krum", {"f": 2}),
             ("multi_krum", {"f": 2}), ("bulyan", {"f": 2}), ("geometric_median", {}),
             ("centered_clipping", {}), ("signguard", {}), ("flame", {}), ("dnc", {"f": 2}),
             ("foolsgold", {})]
    rows = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "1e30": 1e30, "3e38": 3e38, "flt_max": np.finfo(np.float32).max,
            "subnormal": 1e-42, "zero": 0.0, "-1e30": -1e30}
    for rule, params in rules:
        cfg = b.file(f"rule_{rule}.json", json.dumps({"aggregator": dict(rule=rule, **params)}))
        for tag, val in rows.items():
            for count in (1, 3):
                x = good.copy()
                x[:count] = val
                if tag in ("1e30", "3e38", "flt_max", "-1e30"):
                    x[:count] = val * np.sign(good[:count] + 1e-9)
                p = b.file(f"rows_{rule}_{tag}_{count}.npy", npy_bytes(x.astype(np.float32)))
                b.cli("round.values", f"{rule}: {count} row(s) of {tag}", round_argv(p, cfg), {"ok", "reject", "error"}, agg=True)
        for dt in ("<f2",):
            x = good.astype(dt)
            x[0] = np.inf
            x[1, 3] = np.nan
            p = b.file(f"rows_{rule}_f16inf.npy", npy_bytes(x))
            b.cli("round.values", f"{rule}: float16 Inf/NaN rows", round_argv(p, cfg), {"reject"}, codes=("non_finite",), agg=True)
        x = np.zeros((15, 8), np.float32)
        x[:, 0] = 1e-40
        p = b.file(f"rows_{rule}_subnormal_only.npy", npy_bytes(x))
        b.cli("round.values", f"{rule}: every row subnormal", round_argv(p, cfg), {"ok", "reject", "error"}, agg=True)
    # ---------- round: shapes, headers ----------
    H = lambda descr, shape, fo="False": "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fo, shape)
    hdr = lambda text: (text + " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n")
    hdr2 = lambda text: (text + " " * ((64 - (12 + len(text) + 1) % 64) % 64) + "\n")  # versions 2 and 3
    shapes = {"1-D": "(120,)", "3-D": "(3, 5, 8)", "0-D": "()", "n=0": "(0, 8)", "d=0": "(15, 0)",
              "2^62 x 0": "(4611686018427387904, 0)", "0 x 2^62": "(0, 4611686018427387904)",
              "2^32+1 x 0": "(4294967297, 0)", "huge": "(1000000000000, 1000000000000)",
              "2^64": "(18446744073709551616, 8)", "negative": "(-1, 8)", "lying 16x8": "(16, 8)",
              "lying 15x7": "(15, 7)", "float shape": "(15.0, 8)", "string shape": "('15', 8)",
              "1 x 2^40": "(1, 1099511627776)", "2^31 x 2": "(2147483648, 2)"}
    raw = good.tobytes()
    for tag, shape in shapes.items():
        p = b.file(f"shape_{len(b.cases)}.npy", npy_bytes(header=hdr(H("<f4", shape)), data=raw))
        b.cli("round.updates", f"shape {tag}", round_argv(p), {"error"})
    headers = {
        "fortran": hdr(H("<f4", "(15, 8)", "True")), "no descr": hdr("{'fortran_order': False, 'shape': (15, 8), }"),
        "dup descr": hdr("{'descr': '<f4', 'descr': '<f2', 'fortran_order': False, 'shape': (15, 8), }"),
        "extra key": hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (15, 8), 'x': 1, }"),
        "not dict": hdr("[1, 2, 3]"), "empty": "\n", "garbage": hdr("\x00\xff\xfe garbage"),
        "unterminated": hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (15, 8)"),
        "deep": hdr("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 5000 + ")" * 5000 + ", }"),
        "fortran str": hdr(H("<f4", "(15, 8)", "'no'")), "descr object": hdr(H("|O", "(15, 8)")),
        "descr list": hdr("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (15, 8), }"),
        "invalid utf8": hdr("{'descr': '<f4\xff', 'fortran_order': False, 'shape': (15, 8), }"),
    }
    for tag, text in headers.items():
        p = b.file(f"hdr_{len(b.cases)}.npy", npy_bytes(header=text.encode("latin-1"), data=raw))
        b.cli("round.updates", f"npy header {tag}", round_argv(p), {"error"})
    full = npy_bytes(good)
    for cut in (0, 1, 6, 8, 9, 10, 40, 127, 128, 129, len(full) - 1):
        p = b.file(f"trunc_{cut}.npy", full[:cut])
        b.cli("round.updates", f"npy truncated at {cut}", round_argv(p), {"error"})
    p = b.file("extra.npy", full + b"\0\0\0\0")
    b.cli("round.updates", "npy with trailing bytes", round_argv(p), {"error"})
    for tag, data in {"bad magic": b"\x93NUMPZ" + full[6:], "version 9": full[:6] + b"\x09\x00" + full[8:],
                      "header length 65535": full[:8] + b"\xff\xff" + full[10:],
                      "v2 header length 2^32-1": npy_bytes(header=b"x", version=(2, 0))[:8] + b"\xff\xff\xff\xff" + full[10:],
                      "v3 header": npy_bytes(header=hdr2(H("<f4", "(15, 8)")).encode(), data=raw, version=(3, 0)),
                      "v2 header": npy_bytes(header=hdr2(H("<f4", "(15, 8)")).encode(), data=raw, version=(2, 0)),
                      "safetensors as npy": safetensors_bytes([("updates", good, "F32")]),
                      "raw floats": raw, "text": b"1 2 3\n4 5 6\n"}.items():
        exp = {"ok"} if tag in ("v3 header", "v2 header") else {"error"}
        p = b.file(f"misc_{len(b.cases)}.npy", data)
        b.cli("round.updates", f"npy {tag}", round_argv(p), exp, agg=True)
    st = b.file("updates.safetensors", safetensors_bytes([("updates", good, "F32")]))
    b.cli("round.updates", "a .safetensors file as --updates", round_argv(st), {"ok", "error"}, agg=True)
    # ---------- non-regular files, on every file option ----------
    fifo = b.path("fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    d = b.path("adir")
    os.makedirs(d, exist_ok=True)
    for link, target in (("link_dir", d), ("link_fifo", fifo), ("link_dangling", b.path("nowhere")),
                         ("link_zero", "/dev/zero")):
        lp = b.path(link)
        if not os.path.lexists(lp):
            os.symlink(target, lp)
    empty = b.file("empty", b"")
    specials = {"FIFO": fifo, "directory": d, "symlink to directory": b.path("link_dir"),
                "symlink to FIFO": b.path("link_fifo"), "dangling symlink": b.path("link_dangling"),
                "/dev/zero": "/dev/zero", "symlink to /dev/zero": b.path("link_zero"), "/dev/null": "/dev/null",
                "empty file": empty, "missing": b.path("missing"), "/proc/self/mem": "/proc/self/mem",
                "/dev/urandom": "/dev/urandom"}
    ids_ok = b.file("ids.txt", "\n".join(f"c{i}" for i in range(15)) + "\n")
    for tag, sp in specials.items():
        b.cli("round.files", f"--updates {tag}", round_argv(sp), {"error"}, timeout=10)
        b.cli("round.files", f"--config {tag}", round_argv(upd, sp), {"error"}, timeout=10)
        b.cli("round.files", f"--num-samples {tag}", round_argv(upd, mean_cfg, "--num-samples", sp), {"error"}, timeout=10)
        b.cli("round.files", f"--ids {tag}", round_argv(upd, mean_cfg, "--ids", sp), {"error"}, timeout=10)
        b.cli("round.files", f"--reference {tag}",
              round_argv(upd, b.file("fltrust.json", '{"aggregator": {"rule": "fltrust"}}'), "--reference", sp),
              {"error"}, timeout=10)
        if tag not in ("missing", "dangling symlink"):  # a missing state file is a fresh state
            b.cli("state", f"--state {tag}", round_argv(upd, mean_cfg, "--state", sp), {"error"}, timeout=10)
        b.cli("round.files", f"--registry {tag}",
              round_argv(upd, mean_cfg, "--ids", ids_ok, "--registry", sp, "--signatures", b.path("sigs_ok.json"),
                         "--round", "1", "--nonce", "00" * 32), {"error"}, timeout=10)
        b.cli("round.files", f"--signatures {tag}",
              round_argv(upd, mean_cfg, "--ids", ids_ok, "--registry", b.path("registry_ok.json"), "--signatures", sp,
                         "--round", "1", "--nonce", "00" * 32), {"error"}, timeout=10)
    # (Never a device as an output: before expect_replaceable, save_state("/dev/full") run as root
    # renamed a regular file over the device node.)
    for tag, out in {"directory": d, "in a missing directory": b.path("missing/a.npy")}.items():
        b.cli("round.files", f"--aggregate-out {tag}", round_argv(upd, mean_cfg, "--aggregate-out", out), {"error"})
        b.cli("round.files", f"--out {tag}", round_argv(upd, mean_cfg, "--out", out), {"error"})
        b.cli("round.files", f"--metrics-out {tag}", round_argv(upd, mean_cfg, "--metrics-out", out), {"error"})
        b.cli("round.files", f"--metrics-prom {tag}", round_argv(upd, mean_cfg, "--metrics-prom", out), {"error"})
    b.cli("round.files", "--metrics-prom FIFO (an atomic write must not replace it)",
          round_argv(upd, mean_cfg, "--metrics-prom", fifo), {"error"})
    b.cli("state", "--state FIFO, --state written over it", round_argv(upd, mean_cfg, "--state", fifo), {"error"}, timeout=10)
    # ---------- num-samples, ids, reference, server metrics ----------
    ns = {"nan": ([np.nan] + [1.0] * 14, "<f8", {"reject"}), "negative": ([-1.0] + [1.0] * 14, "<f8", {"reject"}),
          "zero": ([0] * 15, "<i8", {"reject", "error"}), "inf": ([np.inf] * 15, "<f8", {"reject", "error"}),
          "huge": ([1e308] * 15, "<f8", {"ok"}), "tiny": ([1e-320] * 15, "<f8", {"ok", "reject"}),
          "uint64 max": ([MAX64] * 15, "<u8", {"ok", "error"}), "wrong length": ([1.0] * 14, "<f8", {"error"}),
          "2-D": (np.ones((15, 1)), "<f8", {"error"}), "bool": ([True] * 15, "|b1", {"ok", "error"}),
          "complex": ([1 + 1j] * 15, "<c16", {"error"}), "float16": ([1.0] * 15, "<f2", {"ok"}),
          "mixed huge": ([3e38] + [1e-30] * 14, "<f4", {"ok"}), "empty": ([], "<f8", {"error"})}
    for tag, (vals, dt, exp) in ns.items():
        p = b.file(f"ns_{len(b.cases)}.npy", npy_bytes(np.asarray(vals, dtype=dt)))
        b.cli("round.inputs", f"--num-samples {tag}", round_argv(upd, mean_cfg, "--num-samples", p), exp,
              codes=("invalid_num_samples",), agg=True)
    idss = {"too few": ("\n".join(f"c{i}" for i in range(14)), {"error"}),
            "too many": ("\n".join(f"c{i}" for i in range(16)), {"error"}),
            "duplicates": ("\n".join(["x"] * 15), {"reject"}),
            "invalid UTF-8": (b"\xff\xfe\n" + "\n".join(f"c{i}" for i in range(14)).encode(), {"error"}),
            "NUL": (b"a\0b\n" + "\n".join(f"c{i}" for i in range(14)).encode(), {"error"}),
            "control chars": ("\x1b[31m\n" + "\n".join(f"c{i}" for i in range(14)), {"error"}),
            "CRLF": ("\r\n".join(f"c{i}" for i in range(15)) + "\r\n", {"ok", "error"}),
            "empty lines": ("\n\n" + "\n".join(f"c{i}" for i in range(15)), {"ok", "error"}),
            "1 MB id": ("x" * 1_000_000 + "\n" + "\n".join(f"c{i}" for i in range(14)), {"ok", "error"}),
            "BOM": ("\ufeff" + "\n".join(f"c{i}" for i in range(15)), {"ok", "error"}),
            "no trailing newline": ("\n".join(f"c{i}" for i in range(15)), {"ok"}),
            "overlong UTF-8": (b"\xc0\xaf\n" + "\n".join(f"c{i}" for i in range(14)).encode(), {"error"}),
            "surrogate UTF-8": (b"\xed\xa0\x80\n" + "\n".join(f"c{i}" for i in range(14)).encode(), {"error"})}
    for tag, (text, exp) in idss.items():
        p = b.file(f"ids_{len(b.cases)}.txt", text)
        b.cli("round.inputs", f"--ids {tag}", round_argv(upd, mean_cfg, "--ids", p), exp, codes=("duplicate_id",), agg=True)
    fl = b.path("fltrust.json")
    refs = {"nan": np.full(8, np.nan, np.float32), "inf": np.full(8, np.inf, np.float32),
            "one nan": np.r_[np.float32(np.nan), np.ones(7, np.float32)], "zero": np.zeros(8, np.float32),
            "wrong length": np.ones(7, np.float32), "2-D": np.ones((1, 8), np.float32), "float64": np.ones(8),
            "int": np.ones(8, np.int32), "3e38": np.full(8, 3e38, np.float32), "subnormal": np.full(8, 1e-42, np.float32),
            "float16 inf": np.full(8, np.inf, np.float16), "negative of the updates": -good.mean(0)}
    for tag, ref in refs.items():
        p = b.file(f"ref_{len(b.cases)}.npy", npy_bytes(ref))
        exp = {"ok", "reject", "error"} if tag in ("3e38", "subnormal", "negative of the updates") else {"error"}
        check = ("finite", "nan", "inf") if tag in ("nan", "inf", "one nan", "float16 inf") else None
        b.cli("round.inputs", f"fltrust --reference {tag}", round_argv(upd, fl, "--reference", p), exp, agg=True,
              check=check)
    for metric in ("loss=nan", "loss=inf", "=1", "loss", "loss=", "loss=1e400", "loss=x", "l\x01=1", "loss=1=2",
                   "a" * 10000 + "=1", "loss=1", "loss=-0"):
        exp = {"ok"} if metric in ("loss=1", "loss=-0") else {"ok", "error"}
        b.cli("round.inputs", f"--server-metric {metric[:20]!r}", round_argv(upd, median_cfg, "--server-metric", metric), exp,
              agg=True)
    for flag, val in (("--backend", "gpu"), ("--precision", "fp8"), ("--backend", "cuda")):
        b.cli("round.inputs", f"{flag} {val}", round_argv(upd, mean_cfg, flag, val), {"error"})
    # bf16 with backend "auto" on a CPU-only build computes in fp32 (docs/config.md)
    b.cli("round.inputs", "--precision bf16", round_argv(upd, mean_cfg, "--precision", "bf16"), {"ok", "error"})

    # ---------- config ----------
    def cfg_case(name, text, exp, updates=upd, codes=(), surface="config"):
        p = b.file(f"cfg_{len(b.cases)}.json", text)
        b.cli(surface, name, round_argv(updates, p), exp, codes=codes, agg=True)

    for depth in (65, 1000, 100_000):
        cfg_case(f"arrays nested {depth} deep", "[" * depth + "]" * depth, {"error"})
        cfg_case(f"objects nested {depth} deep", '{"a":' * depth + "1" + "}" * depth, {"error"})
        cfg_case(f"aggregator nested {depth} deep", '{"aggregator": {"rule": "mean", "x": ' + "[" * depth + "]" * depth + "}}",
                 {"error"})
    dups = {"aggregator twice": '{"aggregator": {"rule": "mean"}, "aggregator": {"rule": "median"}}',
            "filters twice": '{"filters": [], "filters": [{"rule": "krum", "f": 1}]}',
            "rule twice": '{"aggregator": {"rule": "mean", "rule": "median"}}',
            "param twice": '{"aggregator": {"rule": "krum", "f": 1, "f": 2}}',
            "detection key twice": '{"detection": {"norm": 0.01, "norm": 0.02}}',
            "escaped duplicate": '{"aggregator": {"rule": "mean"}, "aggreg\\u0061tor": {"rule": "median"}}'}
    for tag, text in dups.items():
        cfg_case(f"duplicate key: {tag}", text, {"error"})
    nuls = {"raw NUL after": '{"aggregator": {"rule": "mean"}}\0{"x": 1}', "\\u0000 in rule": '{"aggregator": {"rule": "mean\\u0000x"}}',
            "raw NUL in string": '{"aggregator": {"rule": "me\0an"}}', "NUL first": "\0"}
    for tag, text in nuls.items():
        cfg_case(f"NUL: {tag}", text, {"error"})
    misc = {"empty": ("", {"error"}), "whitespace": ("   \n", {"error"}), "null": ("null", {"error"}),
            "list": ("[1]", {"error"}), "number": ("1", {"error"}), "string": ('"mean"', {"error"}),
            "trailing garbage": ('{"aggregator": {"rule": "mean"}} x', {"error"}),
            "two objects": ('{} {}', {"error"}), "BOM": ("\ufeff{}", {"ok", "error"}),
            "invalid UTF-8 key": (b'{"\xff": 1}', {"error"}), "invalid UTF-8 rule": (b'{"aggregator": {"rule": "\xc3"}}', {"error"}),
            "lone surrogate": ('{"aggregator": {"rule": "\\ud800"}}', {"error"}),
            "1e400": ('{"tile_columns": 1e400}', {"error"}), "-1e400": ('{"threads": -1e400}', {"error"}),
            "NaN literal": ('{"tile_columns": NaN}', {"error"}), "Infinity": ('{"tile_columns": Infinity}', {"error"}),
            "comment": ('{/* x */ "aggregator": {"rule": "mean"}}', {"error"}),
            "single quotes": ("{'aggregator': {'rule': 'mean'}}", {"error"}),
            "unknown key": ('{"agregator": {"rule": "mean"}}', {"error"}),
            "unknown rule": ('{"aggregator": {"rule": "krumm", "f": 1}}', {"error"}),
            "unknown param": ('{"aggregator": {"rule": "krum", "f": 1, "F": 2}}', {"error"}),
            "missing param": ('{"aggregator": {"rule": "krum"}}', {"error"}),
            "rule not string": ('{"aggregator": {"rule": 1}}', {"error"}),
            "aggregator string": ('{"aggregator": "mean"}', {"error"}), "aggregator list": ('{"aggregator": [{"rule": "mean"}]}', {"error"}),
            "filter as aggregator": ('{"aggregator": {"rule": "norm_bound", "max_norm": 1}}', {"error"}),
            "median as filter": ('{"filters": [{"rule": "median"}]}', {"error"}),
            "filters object": ('{"filters": {"rule": "krum", "f": 1}}', {"error"}),
            "filters of null": ('{"filters": [null]}', {"error"}),
            "10000 filters": ('{"filters": [' + ",".join(['{"rule": "norm_bound", "max_norm": 1e9}'] * 10000) + "]}", {"ok", "error"}),
            "1 MB rule name": ('{"aggregator": {"rule": "' + "x" * 1_000_000 + '"}}', {"error"}),
            "preset with filters": ('{"preset": "recommended", "filters": []}', {"error"}),
            "preset unknown": ('{"preset": "best"}', {"error"}), "f without preset": ('{"f": 2}', {"error"}),
            "preset f huge": ('{"preset": "recommended", "f": 18446744073709551615}', {"error"}),
            "preset f_fraction 0.5": ('{"preset": "recommended", "f_fraction": 0.5}', {"error"}),
            "preset f_fraction -0.1": ('{"preset": "recommended", "f_fraction": -0.1}', {"error"}),
            "combine unknown": ('{"combine": "or"}', {"error"}),
            "combine weights wrong length": ('{"filters": [{"rule": "krum", "f": 1}], "combine": {"mode": "vote", "weights": [1, 2]}}', {"error"}),
            "combine negative weight": ('{"filters": [{"rule": "krum", "f": 1}], "combine": {"mode": "vote", "weights": [-1]}}', {"error"}),
            "combine min_votes huge": ('{"filters": [{"rule": "krum", "f": 1}], "combine": {"mode": "vote", "min_votes": 1e308}}', {"ok", "error"}),
            "combine min_votes -1": ('{"filters": [{"rule": "krum", "f": 1}], "combine": {"mode": "vote", "min_votes": -1}}', {"error"}),
            "reputation decay 1": ('{"reputation": {"decay": 1}}', {"error"}),
            "reputation initial 2": ('{"reputation": {"initial": 2}}', {"error"}),
            "reputation not last": ('{"filters": [{"rule": "reputation"}, {"rule": "krum", "f": 1}]}', {"error"}),
            "detection budget 0.5": ('{"detection": {"norm": 0.5}}', {"error"}),
            "detection budget -1": ('{"detection": {"norm": -1}}', {"error"}),
            "detection unknown": ('{"detection": {"nrom": 0.01}}', {"error"}),
            "detection max_reject_fraction 2": ('{"detection": {"max_reject_fraction": 2}}', {"error"}),
            "monitoring warmup 1": ('{"monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum", "warmup": 1}]}}', {"error"}),
            "monitoring warmup 2^64": ('{"monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum", "warmup": 18446744073709551616}]}}', {"error"}),
            "monitoring warmup 2^63": ('{"monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum", "warmup": 9223372036854775808}]}}', {"error"}),
            "monitoring method unknown": ('{"monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "x"}]}}', {"error"}),
            "monitoring duplicate": ('{"monitoring": {"detectors": [{"metric": "a", "method": "cusum"}, {"metric": "a", "method": "cusum"}]}}', {"error"}),
            "monitoring ewma lambda 0": ('{"monitoring": {"detectors": [{"metric": "a", "method": "ewma", "lambda": 0}]}}', {"error"}),
            "monitoring min_scale -1": ('{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "min_scale": -1}]}}', {"error"}),
            "monitoring baseline scale 0": ('{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "baseline": {"mean": 0, "scale": 0}}]}}', {"ok", "error"}),
            "monitoring baseline huge": ('{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "baseline": {"mean": 1e308, "scale": 1e-308}}]}}', {"ok", "error"}),
            "monitoring 10000 detectors": ('{"monitoring": {"detectors": [' + ",".join(f'{{"metric": "m{i}", "method": "cusum"}}' for i in range(10000)) + "]}}", {"ok", "error"}),
            "norm_bound no bound": ('{"filters": [{"rule": "norm_bound"}]}', {"error"}),
            "multi_krum m 0": ('{"aggregator": {"rule": "multi_krum", "f": 1, "m": 0}}', {"error"}),
            "krum f too large for n": ('{"aggregator": {"rule": "krum", "f": 7}}', {"error"}),
            "bulyan f too large for n": ('{"aggregator": {"rule": "bulyan", "f": 4}}', {"error"}),
            "trim too large for n": ('{"aggregator": {"rule": "trimmed_mean", "trim": 8}}', {"error"}),
            "fltrust without reference": ('{"aggregator": {"rule": "fltrust"}}', {"error"}),
            "cuda backend": ('{"backend": "cuda"}', {"error"}), "tf32 on cpu": ('{"backend": "cpu", "precision": "tf32"}', {"error"}),
            "sketch_dim 0": ('{"sketch_dim": 0}', {"error"}), "sketch_dim 2^20": ('{"sketch_dim": 1048576}', {"error"}),
            "sketch_seed -1": ('{"sketch_seed": -1}', {"error"}), "sketch_seed 2^64": ('{"sketch_seed": 18446744073709551616}', {"error"}),
            "sketch_seed 2^64-1": ('{"sketch_seed": 18446744073709551615}', {"ok"}),
            "tile_columns 2^26+1": ('{"tile_columns": 67108865}', {"error"}), "tile_columns 2.0": ('{"tile_columns": 2.0}', {"error"}),
            "tile_columns 1": ('{"tile_columns": 1}', {"ok"}), "threads 4097": ('{"threads": 4097}', {"error"}),
            "threads -1": ('{"threads": -1}', {"error"}), "threads true": ('{"threads": true}', {"error"}),
            "duplicate_ids maybe": ('{"duplicate_ids": "maybe"}', {"error"}), "reject_all_zero 1": ('{"reject_all_zero": 1}', {"error"}),
            "backend null": ('{"backend": null}', {"error"}), "precision 1": ('{"precision": 1}', {"error"}),
            "huge key": ('{"' + "k" * 100000 + '": 1}', {"error"}),
            }
    for tag, (text, exp) in misc.items():
        cfg_case(tag, text, exp)
    # every integer parameter of every rule
    int_values = {"-1": "-1", "1.5": "1.5", "2^31": "2147483648", "2^32": "4294967296", "2^53+1": "9007199254740993",
                  "2^62": "4611686018427387904", "2^63": "9223372036854775808", "2^64-1": "18446744073709551615",
                  "2^64": "18446744073709551616", "1e300": "1e300", "true": "true", '"2"': '"2"', "null": "null",
                  "[1]": "[1]", "-0.0": "-0.0", "2.0": "2.0", "1e-300": "1e-300"}
    for rule, param, slot, extra in INT_PARAMS:
        for tag, text in int_values.items():
            if param == "seed":
                exp = {"ok", "reject"} if tag in ("2^31", "2^32", "2^53+1", "2^62", "2^63", "2^64-1") else {"error"}
            elif param == "min_rounds":
                exp = {"ok", "reject", "error"} if tag in ("2^31", "2^32") else {"error"}
            else:
                exp = {"error"}
            if tag in ("2.0", "-0.0"):  # an integral JSON float is a count (docs/config.md)
                exp = exp | {"ok", "reject", "error"} if param == "seed" else {"ok", "reject", "error"}
            cfg_case(f"{rule}.{param} = {tag} ({slot})", policy_with(rule, param, slot, extra, text), exp)
    num_values = {"-1": "-1", "1e308": "1e308", "-1e308": "-1e308", "1e-320": "1e-320", "true": "true",
                  '"1"': '"1"', "null": "null", "{}": "{}", "0": "0"}
    for rule, param, slot, extra in NUM_PARAMS:
        for tag, text in num_values.items():
            exp = {"error"} if tag in ("true", '"1"', "null", "{}", "-1", "-1e308") else {"ok", "reject", "error"}
            if param == "min" and tag == "1e308":
                exp = {"error"}
            cfg_case(f"{rule}.{param} = {tag} ({slot})", policy_with(rule, param, slot, extra, text), exp)
    b.cli("config", "config directory", round_argv(upd, d), {"error"})

    # ---------- state files ----------
    hist_cfg = b.file("hist.json", json.dumps({"sketch_dim": 4, "monitoring": False,
                                               "filters": [{"rule": "fldetector", "window": 2}],
                                               "aggregator": {"rule": "foolsgold"}}))
    small = rng_updates(4, 8, seed=1)
    small_upd = b.file("small.npy", npy_bytes(small))
    small9 = b.file("small9.npy", npy_bytes(rng_updates(4, 9, seed=2)))
    valid_state = b.path("valid.state")
    if os.path.exists(valid_state):
        os.unlink(valid_state)
    for _ in range(3):
        subprocess.run([b.cli_path, "round", "--updates", small_upd, "--config", hist_cfg, "--state", valid_state],
                       capture_output=True, check=True, timeout=60)
    with open(valid_state, "rb") as f:
        sbytes = f.read()
    b.state_size = len(sbytes)

    def state_case(name, data, exp, updates=small_upd, config=hist_cfg):
        p = b.fresh(".state")
        with open(p, "wb") as f:
            f.write(data)
        b.cli("state", name, ["round", "--updates", updates, "--config", config, "--state", p], exp, agg=True)

    state_case("valid state", sbytes, {"ok", "reject"})
    state_case("valid state, round of d+1", sbytes, {"error"}, updates=small9)
    state_case("valid state, centered clipping of d+1", sbytes, {"error"}, updates=small9,
               config=b.file("cc.json", '{"sketch_dim": 4, "aggregator": {"rule": "centered_clipping"}}'))
    hl = struct.unpack("<Q", sbytes[8:16])[0]
    header = json.loads(sbytes[16:16 + hl])
    payload = sbytes[16 + hl:]
    for cut in sorted(set([0, 1, 7, 8, 15, 16, 17, 16 + hl // 2, 16 + hl - 1, 16 + hl, 16 + hl + 1, len(sbytes) - 8,
                           len(sbytes) - 1])):
        state_case(f"truncated at {cut}", sbytes[:cut], {"error"})
    state_case("trailing byte", sbytes + b"\0", {"error"})
    state_case("wrong magic", b"FGSTATE9" + sbytes[8:], {"error"})
    for tag, val in {"0": 0, "2^63": 2**63, "2^64-1": MAX64, "H+1": hl + 1, "H-1": hl - 1, "1 GiB + 1": 2**30 + 1}.items():
        state_case(f"header length {tag}", sbytes[:8] + struct.pack("<Q", val) + sbytes[16:], {"error"})

    def with_header(mod):
        h = json.loads(json.dumps(header))
        mod(h)
        text = json.dumps(h).encode()
        return sbytes[:8] + struct.pack("<Q", len(text)) + text + payload

    def setter(path, value):
        def mod(h):
            obj = h
            for k in path[:-1]:
                obj = obj[k]
            obj[path[-1]] = value
        return mod

    header_mods = {"version 99": (["version"], 99), "version -1": (["version"], -1),
                   "sketch_dim 5": (["sketch_dim"], 5), "sketch_dim 2^64": (["sketch_dim"], 2**64),
                   "sketch_seed 1": (["sketch_seed"], 1), "model_dim 9": (["model_dim"], 9),
                   "model_dim 2^63": (["model_dim"], 2**63), "model_dim -1": (["model_dim"], -1),
                   "rounds 2^64-1": (["rounds"], MAX64), "rounds 1e300": (["rounds"], 1e300),
                   "rounds -1": (["rounds"], -1), "aggregate_sketches 2^40": (["aggregate_sketches"], 2**40),
                   "aggregate_sketches 2^64-1": (["aggregate_sketches"], MAX64),
                   "previous_aggregate 2^62": (["previous_aggregate"], 2**62),
                   "previous_aggregate 9": (["previous_aggregate"], 9),
                   "clients not list": (["clients"], {}), "clients null": (["clients"], None),
                   "client rounds_seen 2^64": (["clients", 0, "rounds_seen"], 2**64),
                   "client rounds_seen 1e300": (["clients", 0, "rounds_seen"], 1e300),
                   "client last_round -1": (["clients", 0, "last_round"], -1),
                   "client id number": (["clients", 0, "id"], 7), "client id NUL": (["clients", 0, "id"], "a\0b"),
                   "client sketch string": (["clients", 0, "sketch"], "yes"),
                   "client reputation 2": (["clients", 0, "reputation"], 2.0),
                   "client reputation -1": (["clients", 0, "reputation"], -1.0),
                   "client suspicion 10^6 values": (["clients", 0, "suspicion"], [0.0] * 1_000_000),
                   "client verified reversed": (["clients", 0, "verified"], [5, 1]),
                   "client verified huge": (["clients", 0, "verified"], [0, 2**64]),
                   "verification nonce short": (["verification"], {"round": 1, "nonce": "00"}),
                   "verification round -1": (["verification"], {"round": -1, "nonce": "00" * 32}),
                   "monitor not object": (["monitor"], []),
                   "monitor detectors garbage": (["monitor"], {"detectors": {"x/cusum": {"warmup": "a"}}}),
                   "monitor seen_clients unsorted": (["monitor"], {"detectors": {}, "seen_clients": [5, 1]}),
                   "monitor seen_clients 2^64": (["monitor"], {"detectors": {}, "seen_clients": [2**64]}),
                   "unknown key": (["unknown"], 1)}
    for tag, (path, value) in header_mods.items():
        # Tolerated (documented in docs/security.md): unknown header keys (forward compatibility).
        exp = {"ok", "reject", "error"} if tag in ("monitor seen_clients unsorted", "unknown key") else {"error"}
        state_case(f"header {tag}", with_header(setter(path, value)), exp)
    state_case("header duplicate key", sbytes[:8] + struct.pack("<Q", hl + 13) + sbytes[16:17] + b'"rounds": 1, ' +
               sbytes[17:16 + hl] + payload, {"error"})
    deep = b"[" * 100000 + b"]" * 100000
    state_case("header nested 100000 deep", sbytes[:8] + struct.pack("<Q", len(deep)) + deep, {"error"})
    state_case("header invalid UTF-8", sbytes[:8] + struct.pack("<Q", hl) + sbytes[16:16 + hl].replace(b'"id"', b'"\xff\xfe"', 1) + payload,
               {"error"})
    # NaN / Inf at each stored double
    for k in range(0, len(payload) // 8):
        for tag, v in (("nan", np.nan), ("inf", np.inf)):
            if k % 3 and tag == "inf":
                continue
            data = bytearray(payload)
            data[8 * k:8 * k + 8] = struct.pack("<d", v)
            state_case(f"payload double {k} = {tag}", sbytes[:16 + hl] + bytes(data), {"error"})
    # bit flips at every offset
    step = 1
    for off in range(0, len(sbytes), step):
        data = bytearray(sbytes)
        data[off] ^= 1 << (off % 8)
        state_case(f"bit flip at offset {off}", bytes(data), {"ok", "reject", "error"})

    # ---------- registry / signatures / keys ----------
    from base64 import b64encode
    import hashlib
    keys = []
    have_identity = True
    try:
        sys.path.insert(0, os.environ.get("FEDGUARD_PYTHON_DIR", ""))
        import fedguard.identity as ident
        for i in range(15):
            sk, pk = ident.generate_key_pair()
            keys.append((sk, pk))
    except Exception:  # the probe still runs the CLI cases without the Python package
        have_identity = False
    if have_identity:
        reg = {"version": 1, "federation": "fed", "clients": [
            {"id": f"c{i}", "public_key": b64encode(pk).decode(), "status": "active", "enrolled_round": 0}
            for i, (sk, pk) in enumerate(keys)]}
        b.file("registry_ok.json", json.dumps(reg))
        nonce = bytes([1] * 32)  # an all-zero nonce is refused
        sigs = {f"c{i}": b64encode(ident.sign_update(sk, "fed", f"c{i}", 1, nonce, good[i])).decode()
                for i, (sk, pk) in enumerate(keys)}
        b.file("sigs_ok.json", json.dumps(sigs))

        def sig_argv(registry=b.path("registry_ok.json"), signatures=b.path("sigs_ok.json"), rnd="1", nonce_hex="01" * 32):
            return round_argv(upd, mean_cfg, "--ids", ids_ok, "--registry", registry, "--signatures", signatures,
                              "--round", rnd, "--nonce", nonce_hex)

        b.cli("registry", "valid registry and signatures", sig_argv(), {"ok"}, agg=True)
        sig_mods = {"not object": ("[]", {"error"}), "value number": (json.dumps({**sigs, "c0": 5}), {"error"}),
                    "bad base64": (json.dumps({**sigs, "c0": "!!!"}), {"reject"}),
                    "63-byte signature": (json.dumps({**sigs, "c0": b64encode(bytes(63)).decode()}), {"reject"}),
                    "non-canonical base64": (json.dumps({**sigs, "c0": sigs["c0"][:85] + ("B" if sigs["c0"][85] == "A" else "A") + "=="}), {"reject"}),
                    "missing entry": (json.dumps({k: v for k, v in sigs.items() if k != "c3"}), {"reject"}),
                    "swapped": (json.dumps({**sigs, "c0": sigs["c1"], "c1": sigs["c0"]}), {"reject"}),
                    "unknown ids only": (json.dumps({"zz": sigs["c0"]}), {"reject", "error"}),
                    "duplicate key": ('{"c0": "a", "c0": "b"}', {"error"}),
                    "nested": ("[" * 100000 + "]" * 100000, {"error"}), "NUL": ('{"c0\\u0000": "a"}', {"error"}),
                    "invalid UTF-8": (b'{"\xff": "a"}', {"error"}), "empty": ("", {"error"}),
                    "1 MB signature": (json.dumps({**sigs, "c0": "A" * 1_000_000}), {"reject"})}
        for tag, (text, exp) in sig_mods.items():
            p = b.file(f"sig_{len(b.cases)}.json", text)
            b.cli("registry", f"signatures {tag}", sig_argv(signatures=p), exp, agg=True)
        for tag, (rnd, nh, exp) in {"nonce 63 digits": ("1", "0" * 63, {"error"}), "nonce not hex": ("1", "zz" * 32, {"error"}),
                                    "nonce 66 digits": ("1", "0" * 66, {"error"}), "round -1": ("-1", "01" * 32, {"error"}),
                                    "round 2^64": ("18446744073709551616", "01" * 32, {"error"}),
                                    "round 2^64-1": ("18446744073709551615", "01" * 32, {"error"}),
                                    "round x": ("x", "01" * 32, {"error"}), "wrong nonce": ("1", "02" * 32, {"error"}),
                                    "all-zero nonce": ("1", "00" * 32, {"error"})}.items():
            b.cli("registry", tag, sig_argv(rnd=rnd, nonce_hex=nh), exp, agg=True)
        b.cli("registry", "registry without --ids", round_argv(upd, mean_cfg, "--registry", b.path("registry_ok.json")), {"error"})

        def reg_with(mod):
            r = json.loads(json.dumps(reg))
            mod(r)
            return json.dumps(r)

        regs = {"version 2": reg_with(setter(["version"], 2)), "version missing": reg_with(lambda r: r.pop("version")),
                "federation empty": reg_with(setter(["federation"], "")), "federation NUL": reg_with(setter(["federation"], "a\0b")),
                "max_clients -1": reg_with(setter(["max_clients"], -1)), "max_clients 2^64": reg_with(setter(["max_clients"], 2**64)),
                "max_clients 1.5": reg_with(setter(["max_clients"], 1.5)), "max_clients 1": reg_with(setter(["max_clients"], 1)),
                "max_new_per_round -1": reg_with(setter(["max_new_per_round"], -1)),
                "probation share 0": reg_with(setter(["probation"], {"rounds": 1, "max_share": 0})),
                "probation share 2": reg_with(setter(["probation"], {"rounds": 1, "max_share": 2})),
                "probation rounds 2^64": reg_with(setter(["probation"], {"rounds": 2**64})),
                "probation unknown": reg_with(setter(["probation"], {"round": 1})),
                "unknown field": reg_with(setter(["max_client"], 3)),
                "duplicate id": reg_with(lambda r: r["clients"].append(dict(r["clients"][0], public_key=b64encode(bytes(32)).decode()))),
                "duplicate key": reg_with(lambda r: r["clients"].append(dict(r["clients"][0], id="zz"))),
                "key 31 bytes": reg_with(setter(["clients", 0, "public_key"], b64encode(bytes(31)).decode())),
                "key not base64": reg_with(setter(["clients", 0, "public_key"], "****")),
                "key with newline": reg_with(setter(["clients", 0, "public_key"], reg["clients"][0]["public_key"] + "\n")),
                "status unknown": reg_with(setter(["clients", 0, "status"], "banned")),
                "enrolled_round -1": reg_with(setter(["clients", 0, "enrolled_round"], -1)),
                "id empty": reg_with(setter(["clients", 0, "id"], "")), "id NUL": reg_with(setter(["clients", 0, "id"], "a\0")),
                "clients object": reg_with(setter(["clients"], {})), "not object": "[]",
                "nested": '{"version": 1, "federation": "f", "clients": ' + "[" * 100000 + "]" * 100000 + "}",
                "duplicate top key": '{"version": 1, "version": 1, "federation": "f", "clients": []}',
                "invalid UTF-8": b'{"version": 1, "federation": "\xff", "clients": []}', "empty": "",
                "1e400": '{"version": 1e400, "federation": "f", "clients": []}'}
        for tag, text in regs.items():
            p = b.file(f"reg_{len(b.cases)}.json", text)
            exp = {"error"}
            b.cli("registry", f"registry {tag} (round)", sig_argv(registry=p), exp, agg=True)
            b.cli("registry", f"registry {tag} (keys list)", ["keys", "list", "--registry", p], {"error"})
        pk_ok = b64encode(keys[0][1]).decode()
        for tag, args, exp in [
                ("register bad key", ["--id", "z", "--public-key", "xx"], {"error"}),
                ("register 33-byte key", ["--id", "z", "--public-key", b64encode(bytes(33)).decode()], {"error"}),
                ("register empty id", ["--id", "", "--public-key", b64encode(bytes([1] * 32)).decode()], {"error"}),
                ("register existing key", ["--id", "z", "--public-key", pk_ok], {"error"}),
                ("register existing id", ["--id", "c0", "--public-key", b64encode(bytes([2] * 32)).decode()], {"error"}),
                ("register share 0", ["--id", "z", "--public-key", b64encode(bytes([3] * 32)).decode(), "--probation-share", "0"], {"error"}),
                ("register share nan", ["--id", "z", "--public-key", b64encode(bytes([3] * 32)).decode(), "--probation-share", "nan"], {"error"}),
                ("register round 2^64", ["--id", "z", "--public-key", b64encode(bytes([3] * 32)).decode(), "--round", "18446744073709551616"], {"error"}),
                ("register max-clients -1", ["--id", "z", "--public-key", b64encode(bytes([3] * 32)).decode(), "--max-clients", "-1"], {"error"}),
                ("register other federation", ["--id", "z", "--public-key", b64encode(bytes([4] * 32)).decode(), "--federation", "other"], {"error"})]:
            p = b.file(f"regw_{len(b.cases)}.json", json.dumps(reg))
            fed = [] if "--federation" in args else ["--federation", "fed"]
            b.cli("registry", f"keys {tag}", ["keys", "register", "--registry", p, *fed, *args], exp)
        for tag, target, exp in (("revoke unknown", "nobody", {"error"}), ("revoke empty", "", {"error"})):
            p = b.file(f"regw_{len(b.cases)}.json", json.dumps(reg))
            b.cli("registry", f"keys {tag}", ["keys", "revoke", "--registry", p, "--id", target], exp)
        for tag, outdir, cid in (("generate into a file", upd, "x"), ("generate id with slash", W, "a/b"),
                                 ("generate id ..", W, ".."), ("generate empty id", W, ""),
                                 ("generate into a missing dir", b.path("nodir/x"), "x")):
            b.cli("registry", f"keys {tag}", ["keys", "generate", "--out-dir", outdir, "--id", cid], {"error"})

    # ---------- scan and monitor ----------
    def make_log(name, rounds, manifest=None, manifest_text=None):
        dpath = b.path("logs/" + name)
        os.makedirs(dpath, exist_ok=True)
        for fname, data in rounds.items():
            fp = os.path.join(dpath, fname)
            if data == "FIFO":
                if not os.path.exists(fp):
                    os.mkfifo(fp)
            elif data == "DIR":
                os.makedirs(fp, exist_ok=True)
            else:
                with open(fp, "wb") as f:
                    f.write(data)
        if manifest is not None or manifest_text is not None:
            with open(os.path.join(dpath, "manifest.json"), "wb") as f:
                t = manifest_text if manifest_text is not None else json.dumps(manifest)
                f.write(t.encode() if isinstance(t, str) else t)
        return dpath

    ids6 = [f"k{i}" for i in range(6)]
    x6 = rng_updates(6, 8, seed=3)
    meta = {"format": "fedguard-round", "version": "1", "round": "0", "client_ids": json.dumps(ids6), "malicious": '["k0"]'}
    good_round = safetensors_bytes([("updates", x6, "F32")], dict(meta))
    good_round1 = safetensors_bytes([("updates", x6, "F32")], dict(meta, round="1"))

    def entry(r, f, **kw):
        e = {"round": r, "file": f}
        e.update(kw)
        return e

    def mani(*entries):
        return {"format": "fedguard-update-log", "version": 1, "rounds": list(entries)}

    bad_rounds = {
        "invalid UTF-8 header": safetensors_bytes([("updates", x6, "F32")], header_override=json.dumps(
            {"updates": {"dtype": "F32", "shape": [6, 8], "data_offsets": [0, 192]}, "__metadata__": {"x": "\udcff"}},
            ensure_ascii=False).encode("utf-8", "surrogateescape")),
        "header length 2^64-1": b"\xff" * 8 + b"{}",
        "header length 2^63": struct.pack("<Q", 2**63) + b"{}",
        "header nested": safetensors_bytes([], header_override=b'{"a":' * 10000 + b"1" + b"}" * 10000),
        "duplicate tensor": safetensors_bytes([], header_override=b'{"updates": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}, "updates": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}') + b"\0" * 4,
        "shape 2^62 x 0": safetensors_bytes([], header_override=b'{"updates": {"dtype": "F32", "shape": [4611686018427387904, 0], "data_offsets": [0, 0]}}'),
        "shape overflow": safetensors_bytes([], header_override=b'{"updates": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}'),
        "offsets past end": safetensors_bytes([], header_override=b'{"updates": {"dtype": "F32", "shape": [6, 8], "data_offsets": [0, 1000000]}}') + b"\0" * 192,
        "offsets reversed": safetensors_bytes([], header_override=b'{"updates": {"dtype": "F32", "shape": [6, 8], "data_offsets": [192, 0]}}') + b"\0" * 192,
        "I64 updates": safetensors_bytes([("updates", x6.astype(np.int64), "I64")]),
        "F64 updates": safetensors_bytes([("updates", x6.astype(np.float64), "F64")]),
        "3-D updates": safetensors_bytes([("updates", x6.reshape(2, 3, 8), "F32")]),
        "NaN rows": safetensors_bytes([("updates", np.where(np.arange(6)[:, None] < 2, np.nan, x6).astype(np.float32), "F32")], dict(meta)),
        "client_ids wrong length": safetensors_bytes([("updates", x6, "F32")], dict(meta, client_ids='["a"]')),
        "client_ids not JSON": safetensors_bytes([("updates", x6, "F32")], dict(meta, client_ids="[a")),
        "client_ids duplicates": safetensors_bytes([("updates", x6, "F32")], dict(meta, client_ids=json.dumps(["a"] * 6), malicious="[]")),
        "malicious unknown id": safetensors_bytes([("updates", x6, "F32")], dict(meta, malicious='["nobody"]')),
        "malicious not list": safetensors_bytes([("updates", x6, "F32")], dict(meta, malicious='"k0"')),
        "num_samples NaN text": safetensors_bytes([("updates", x6, "F32")], dict(meta, num_samples="[NaN,1,1,1,1,1]")),
        "num_samples wrong length": safetensors_bytes([("updates", x6, "F32")], dict(meta, num_samples="[1]")),
        "round -1": safetensors_bytes([("updates", x6, "F32")], dict(meta, round="-1")),
        "round 2^64": safetensors_bytes([("updates", x6, "F32")], dict(meta, round="18446744073709551616")),
        "layers lie": safetensors_bytes([("updates", x6, "F32")], dict(meta, layers='[["w", 9]]')),
        "layers negative": safetensors_bytes([("updates", x6, "F32")], dict(meta, layers='[["w", -1], ["b", 9]]')),
        "metadata value number": safetensors_bytes([], header_override=b'{"__metadata__": {"round": 1}}'),
        "reference wrong length": safetensors_bytes([("updates", x6, "F32"), ("reference", x6[0, :7].copy(), "F32")]),
        "per-client mixed layouts": safetensors_bytes([("client/a", x6[0], "F32"), ("client/b", x6[1, :7].copy(), "F32"),
                                                       ("client/c", x6[2], "F32")]),
        "per-client and updates": safetensors_bytes([("updates", x6, "F32"), ("client/a", x6[0], "F32")]),
        "empty": b"", "seven bytes": b"\0" * 7, "npy bytes": npy_bytes(x6),
    }
    cfg_scan = b.file("scan_median.json", '{"aggregator": {"rule": "median"}}')
    for tag, data in bad_rounds.items():
        lg = make_log(f"bad_{len(b.cases)}", {"round_000000.safetensors": good_round, "round_000001.safetensors": data})
        b.cli("scan", f"round file: {tag}", ["scan", lg, "--config", cfg_scan, "--out", lg + "_out", "--progress", "none"],
              {"ok"}, check=("scan_rounds", 2))
    lies = {"n wrong": mani(entry(0, "r0.safetensors", n=7, d=8)), "d wrong": mani(entry(0, "r0.safetensors", n=6, d=9)),
            "bytes wrong": mani(entry(0, "r0.safetensors", bytes=1)),
            "client_ids disagree": mani(entry(0, "r0.safetensors", client_ids=ids6[::-1])),
            "client_ids short": mani(entry(0, "r0.safetensors", client_ids=ids6[:3])),
            "malicious unknown": mani(entry(0, "r0.safetensors", malicious=["nobody"])),
            "malicious disagree": mani(entry(0, "r0.safetensors", malicious=["k1"])),
            "npy malicious unknown": mani(entry(0, "r0.npy", malicious=["nobody"])),
            "npy client_ids short": mani(entry(0, "r0.npy", client_ids=["a"])),
            "npy num_samples NaN": mani(entry(0, "r0.npy", num_samples=[1, 1, 1, 1, 1, -1])),
            "npy num_samples strings": mani(entry(0, "r0.npy", num_samples=["a"] * 6)),
            "file missing": mani(entry(0, "nothere.safetensors")), "file ..": mani(entry(0, "..")),
            "file with slash": mani(entry(0, "../r0.safetensors")), "file absolute": mani(entry(0, "/etc/passwd")),
            "file listed twice": mani(entry(0, "r0.safetensors"), entry(1, "r0.safetensors")),
            "round repeated": mani(entry(0, "r0.safetensors"), entry(0, "r1.safetensors")),
            "round -1": mani(entry(-1, "r0.safetensors")), "round 2^64": mani(entry(2**64, "r0.safetensors")),
            "round 1.5": mani(entry(1.5, "r0.safetensors")), "unknown entry key": mani(entry(0, "r0.safetensors", colour=1)),
            "file a FIFO": mani(entry(0, "fifo.safetensors")), "file a directory": mani(entry(0, "dir.safetensors")),
            "file a .pt": mani(entry(0, "r.pt")), "file unknown extension": mani(entry(0, "r0.txt")),
            "rounds not list": {"format": "fedguard-update-log", "version": 1, "rounds": {}},
            "version 2": {"format": "fedguard-update-log", "version": 2, "rounds": []},
            "format other": {"format": "x", "version": 1, "rounds": []}}
    files = {"r0.safetensors": good_round, "r1.safetensors": good_round1, "r0.npy": npy_bytes(x6), "fifo.safetensors": "FIFO",
             "dir.safetensors": "DIR", "r.pt": b"PK\x03\x04garbage", "r0.txt": b"text"}
    whole_log_errors = {"rounds not list", "version 2", "file ..", "file with slash", "file absolute", "file listed twice",
                        "round repeated", "round -1", "round 2^64", "round 1.5", "unknown entry key", "format other"}
    for tag, m in lies.items():
        lg = make_log(f"lie_{len(b.cases)}", files, manifest=m)
        exp = {"error", "ok"} if tag in whole_log_errors else {"ok"}
        chk = None if tag in whole_log_errors else ("scan_error_rounds",)
        if tag == "npy num_samples NaN":  # a client's invalid_num_samples rejection, not a bad round
            chk = None
        if tag == "npy num_samples strings":  # a malformed manifest: the whole log
            exp = {"error"}
        if tag in ("n wrong", "d wrong", "bytes wrong", "format other"):
            chk = None
            exp = {"ok", "error"}
        b.cli("scan", f"manifest: {tag}", ["scan", lg, "--config", cfg_scan, "--out", lg + "_out", "--progress", "none"],
              exp, check=chk, timeout=20)
    manifest_texts = {"nested": '{"rounds":' + "[" * 100000 + "]" * 100000 + "}", "duplicate key": '{"rounds": [], "rounds": []}',
                      "NUL": '{"format": "fedguard-update-log\\u0000", "version": 1, "rounds": []}',
                      "invalid UTF-8": b'{"format": "\xff", "version": 1, "rounds": []}', "empty": "", "not object": "[]",
                      "1e400": '{"format": "fedguard-update-log", "version": 1e400, "rounds": []}', "truncated": '{"rounds": [',
                      "10000 entries of one file": json.dumps(mani(*[entry(i, "r0.safetensors") for i in range(10000)]))}
    for tag, t in manifest_texts.items():
        lg = make_log(f"mt_{len(b.cases)}", {"r0.safetensors": good_round}, manifest_text=t)
        b.cli("scan", f"manifest text: {tag}", ["scan", lg, "--config", cfg_scan, "--out", lg + "_out", "--progress", "none"],
              {"error"}, timeout=20)
    for tag, fs in {"empty directory": {}, "mixed formats": {"a.safetensors": good_round, "b.npy": npy_bytes(x6), "c.pt": b"junk",
                                                             "d.safetensors": b"\0" * 20},
                    "only a FIFO": {"a.safetensors": "FIFO"}, "manifest a FIFO": {"manifest.json": "FIFO"},
                    "manifest a directory": {"manifest.json": "DIR"}, "subdirectory": {"a.safetensors": good_round, "sub.npy": "DIR"}}.items():
        lg = make_log(f"dir_{len(b.cases)}", fs)
        b.cli("scan", f"log: {tag}", ["scan", lg, "--config", cfg_scan, "--out", lg + "_out", "--progress", "none"],
              {"ok", "error"}, timeout=20)
    for tag, lg in {"logdir a file": upd, "logdir missing": b.path("nolog"), "logdir a FIFO": fifo, "logdir /dev/zero": "/dev/zero"}.items():
        b.cli("scan", f"{tag}", ["scan", lg, "--config", cfg_scan, "--out", b.path("scan_out_x"), "--progress", "none"],
              {"error"}, timeout=20)
    lg_ok = make_log("ok_log", {"round_000000.safetensors": good_round, "round_000001.safetensors": good_round1})
    for tag, out in {"--out a file": upd, "--out /dev/null": "/dev/null", "--out a FIFO": fifo}.items():
        b.cli("scan", tag, ["scan", lg_ok, "--config", cfg_scan, "--out", out, "--progress", "none"], {"error"}, timeout=20)
    b.cli("scan", "--strict with a bad round", ["scan", make_log("strict", {"a.safetensors": good_round, "b.safetensors": b"x"}),
                                                "--config", cfg_scan, "--out", b.path("strict_out"), "--progress", "none", "--strict"],
          {"error"})
    # monitor
    mon_cfg = b.file("mon.json", '{"aggregator": {"rule": "median"}, "monitoring": {"detectors": [{"metric": "aggregate_norm", "method": "cusum", "warmup": 2}]}}')
    mon_logs = dict(list(bad_rounds.items())[:12])
    for tag, data in mon_logs.items():
        lg = make_log(f"mon_{len(b.cases)}", {"round_000000.safetensors": good_round, "round_000001.safetensors": data})
        b.cli("monitor", f"round file: {tag}", ["monitor", lg, "--config", mon_cfg, "--no-follow", "--progress", "none"],
              {"ok", "error"}, timeout=20)
    for tag, t in list(manifest_texts.items())[:6]:
        lg = make_log(f"monm_{len(b.cases)}", {"r0.safetensors": good_round}, manifest_text=t)
        b.cli("monitor", f"manifest text: {tag}", ["monitor", lg, "--config", mon_cfg, "--no-follow", "--progress", "none"],
              {"error"}, timeout=20)
    for tag, extra in {"state a FIFO": ["--state", fifo], "state /dev/zero": ["--state", "/dev/zero"],
                       "state a directory": ["--state", d], "state garbage": ["--state", b.file("garbage.state", b"FGSTATE1" + b"\xff" * 100)],
                       "poll 0": ["--poll", "0"], "poll nan": ["--poll", "nan"], "max-wait -1": ["--max-wait", "-1"],
                       "max-rounds -1": ["--max-rounds", "-1"], "metrics-out a directory": ["--metrics-out", d],
                       "metrics-prom a directory": ["--metrics-prom", d]}.items():
        # the monitor reports a round whose outputs fail and goes on (exit 0): either is clean
        exp = {"ok", "error"} if tag.startswith("metrics") else {"error"}
        b.cli("monitor", tag, ["monitor", lg_ok, "--config", mon_cfg, "--no-follow", "--progress", "none", *extra], exp, timeout=20)
    for tag, text in {"warmup 0": '{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "warmup": 0}]}}',
                      "h -1": '{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "h": -1}]}}',
                      "direction x": '{"monitoring": {"detectors": [{"metric": "a", "method": "cusum", "direction": "x"}]}}',
                      "page_hinkley alpha 0": '{"monitoring": {"detectors": [{"metric": "a", "method": "page_hinkley", "alpha": 0}]}}',
                      "page_hinkley min_instances 2^64": '{"monitoring": {"detectors": [{"metric": "a", "method": "page_hinkley", "min_instances": 18446744073709551616}]}}',
                      "ewma L -1": '{"monitoring": {"detectors": [{"metric": "a", "method": "ewma", "L": -1}]}}',
                      "detectors not list": '{"monitoring": {"detectors": {}}}', "metric empty": '{"monitoring": {"detectors": [{"metric": "", "method": "cusum"}]}}'}.items():
        p = b.file(f"moncfg_{len(b.cases)}.json", text)
        b.cli("monitor", f"config {tag}", ["monitor", lg_ok, "--config", p, "--no-follow", "--progress", "none"], {"error"}, timeout=20)

    # ---------- Python API ----------
    pyc = []

    def P(name, code, exp, codes=(), errors=("value",), surface="python"):
        b.py(surface, name, code, exp, codes=codes, errors=errors)

    X = "X = np.random.default_rng(0).normal(size=(15, 8)).astype(np.float32)\n"
    E = "eng = fg.Engine({'aggregator': {'rule': 'median'}, 'monitoring': False})\n"
    P("Engine(None)", "result = fg.Engine(None).process_round(np.ones((3, 4), np.float32))", {"ok"})
    P("Engine(bytes)", "fg.Engine(b'{}')", {"ok", "error"})
    for tag, cfg in {"int": "5", "list": "[1]", "set": "{1}", "float nan": "float('nan')",
                     "object": "object()"}.items():
        P(f"Engine({tag})", f"fg.Engine({cfg})", {"error"}, errors=("value", "type"))
    for depth in (100, 1000, 100_000):
        P(f"Engine(dict nested {depth})", f"d = {{}}\nc = d\nfor _ in range({depth}):\n    c['x'] = {{}}\n    c = c['x']\nfg.Engine({{'aggregator': {{'rule': 'mean', 'p': d}}}})",
          {"error"})
        P(f"Engine(list nested {depth})", f"d = []\nc = d\nfor _ in range({depth}):\n    c.append([])\n    c = c[0]\nfg.Engine({{'aggregator': {{'rule': 'mean'}}, 'filters': d}})",
          {"error"})
        P(f"Engine(text nested {depth})", f"fg.Engine('[' * {depth} + ']' * {depth})", {"error"})
    P("Engine(self-referencing dict)", "d = {'aggregator': {'rule': 'mean'}}\nd['aggregator']['x'] = d\nfg.Engine(d)", {"error"})
    for tag, cfg in {"non-str key": "{1: 2}", "tuple key": "{(1, 2): 3}", "NUL in text": "'{\"aggregator\": {\"rule\": \"mean\"}}\\x00'",
                     "duplicate in text": "'{\"aggregator\": {\"rule\": \"mean\"}, \"aggregator\": {\"rule\": \"median\"}}'",
                     "NUL in key": "{'aggregator\\x00': {'rule': 'mean'}}", "lone surrogate": "{'aggregator': {'rule': '\\ud800'}}",
                     "nan param": "{'aggregator': {'rule': 'centered_clipping', 'tau': float('nan')}}",
                     "inf param": "{'aggregator': {'rule': 'centered_clipping', 'tau': float('inf')}}",
                     "2**64 param": "{'aggregator': {'rule': 'krum', 'f': 2**64}}", "2**100 param": "{'aggregator': {'rule': 'krum', 'f': 2**100}}",
                     "-2**100 param": "{'aggregator': {'rule': 'krum', 'f': -2**100}}", "bool param": "{'aggregator': {'rule': 'krum', 'f': True}}",
                     "numpy array param": "{'aggregator': {'rule': 'krum', 'f': np.array([1, 2])}}",
                     "complex param": "{'aggregator': {'rule': 'krum', 'f': 1j}}", "bytes value": "{'aggregator': {'rule': b'mean'}}",
                     "set value": "{'aggregator': {'rule': 'mean'}, 'filters': {1}}", "float f": "{'aggregator': {'rule': 'krum', 'f': 1.5}}",
                     "np.float64 nan": "{'aggregator': {'rule': 'centered_clipping', 'tau': np.float64('nan')}}",
                     "np.uint64 max": "{'aggregator': {'rule': 'krum', 'f': np.uint64(2**64 - 1)}}"}.items():
        P(f"Engine config {tag}", f"fg.Engine({cfg})", {"error"}, errors=("value", "type"))
    for tag, val in {"np.int64(1)": "np.int64(1)", "np.int32(1)": "np.int32(1)", "np.uint8(1)": "np.uint8(1)",
                     "np.float64(1.0)": "np.float64(1.0)", "np.bool_(False)": "np.bool_(False)", "0-d array": "np.array(1)"}.items():
        exp = {"ok", "reject"} if "bool" not in tag and "float" not in tag else {"ok", "reject", "error"}
        P(f"Engine krum f = {tag}", X + f"result = fg.Engine({{'aggregator': {{'rule': 'krum', 'f': {val}}}}}).process_round(X)", exp)
        P(f"aggregate trim = {tag}", X + f"result = fg.aggregate(X, rule='trimmed_mean', trim={val})", exp)
    for tag, val in {"2**63": "2**63", "2**64": "2**64", "-1": "-1", "1.5": "1.5", "None": "None", "'2'": "'2'", "True": "True",
                     "nan": "float('nan')", "[2]": "[2]"}.items():
        P(f"aggregate trim = {tag}", X + f"fg.aggregate(X, rule='trimmed_mean', trim={val})", {"error"}, errors=("value", "type"))
    for tag, rule in {"unknown rule": "'x'", "rule None": "None", "rule 1": "1", "filter rule": "'norm_bound'"}.items():
        P(f"aggregate {tag}", X + f"fg.aggregate(X, rule={rule})", {"error"}, errors=("value", "type"))
    inputs = {"zero rows": ("np.zeros((0, 8), np.float32)", {"error"}), "zero cols": ("np.zeros((5, 0), np.float32)", {"error"}),
              "non-contiguous cols": ("X[:, ::2]", {"error"}), "transpose": ("X.T", {"error"}),
              "fortran": ("np.asfortranarray(X)", {"error"}), "float64": ("X.astype(np.float64)", {"error"}),
              "int32": ("X.astype(np.int32)", {"error"}), "object": ("X.astype(object)", {"error"}),
              "bool": ("X > 0", {"error"}), "complex": ("X.astype(np.complex64)", {"error"}),
              "byteswapped": ("X.astype('>f4')", {"error"}), "3-D": ("X.reshape(3, 5, 8)", {"error"}),
              "1-D": ("X[0]", {"error"}), "0-D": ("np.float32(1)", {"error"}), "string": ("'abc'", {"error"}),
              "None": ("None", {"error"}), "int": ("5", {"error"}), "dict": ("{'a': X[0]}", {"error"}),
              "empty list": ("[]", {"error"}), "list of None": ("[None, None]", {"error", "reject"}),
              "list with a None": ("[X[0], None, X[1], X[2]]", {"reject"}),
              "list with a float64 row": ("[X[0], X[1].astype(np.float64), X[2], X[3]]", {"reject", "error"}),
              "list with a short row": ("[X[0], X[1][:7], X[2], X[3]]", {"reject"}),
              "list with an empty row": ("[X[0], X[1][:0], X[2], X[3]]", {"reject", "error"}),
              "list with a 2-D row": ("[X[0], X[1:3], X[2], X[3]]", {"ok", "reject", "error"}),
              "list with a string": ("[X[0], 'abc', X[2], X[3]]", {"reject", "error"}),
              "list with an int": ("[X[0], 5, X[2], X[3]]", {"reject", "error"}),
              "list with a non-contiguous row": ("[X[0], X[1][::2], X[2], X[3]]", {"error", "reject"}),
              "list with a float16 row": ("[X[0], X[1].astype(np.float16), X[2], X[3]]", {"reject", "ok"}),
              "list of Mappings": ("[{'w': X[i, :4], 'b': X[i, 4:]} for i in range(5)]", {"ok"}),
              "list of Mappings, one int": ("[{'w': X[i, :4], 'n': np.int64(3)} for i in range(5)]", {"ok", "error"}),
              "list of Mappings, one None": ("[{'w': X[i, :4], 'b': None} for i in range(5)]", {"error", "reject"}),
              "list of Mappings, one empty": ("[{'w': X[i, :4]} for i in range(4)] + [{}]", {"error", "reject"}),
              "list of per-layer lists with a None": ("[[X[i, :4], X[i, 4:]] for i in range(4)] + [[X[4, :4], None]]", {"reject", "error"}),
              "memoryview": ("memoryview(X)", {"ok"}), "bytes": ("X.tobytes()", {"error"}),
              "broadcast rows": ("np.broadcast_to(X[0], (15, 8))", {"ok"}), "reversed rows": ("X[::-1]", {"ok"}),
              "huge broadcast": ("np.broadcast_to(np.float32(1), (2**31, 8))", {"ok", "error"}),
              "read-only": ("np.frombuffer(X.tobytes(), np.float32).reshape(15, 8)", {"ok"}),
              "NaN everywhere": ("np.full((15, 8), np.nan, np.float32)", {"error"}),
              "one NaN": ("np.where(np.arange(15)[:, None] == 0, np.nan, X).astype(np.float32)", {"reject"}),
              "1e30 rows": ("np.where(np.arange(15)[:, None] < 3, 1e30, X).astype(np.float32)", {"ok", "reject"}),
              "subnormal": ("np.full((15, 8), 1e-42, np.float32)", {"ok", "reject"}),
              "float16 inf": ("np.where(np.arange(15)[:, None] == 0, np.inf, X).astype(np.float16)", {"reject"}),
              "tuple": ("tuple(X)", {"ok"}), "generator": ("(r for r in X)", {"error", "ok"}),
              "custom __dlpack__ raising": ("type('D', (), {'__dlpack__': lambda self, **k: 1/0, '__dlpack_device__': lambda self: (1, 0)})()", {"error"}),
              "custom __array__ raising": ("type('A', (), {'__array__': lambda self, *a, **k: 1/0})()", {"error"}),
              "custom __dlpack__ returning junk": ("type('D', (), {'__dlpack__': lambda self, **k: 5, '__dlpack_device__': lambda self: (1, 0)})()", {"error"})}
    for tag, (expr, exp) in inputs.items():
        # the caller's own exception (ZeroDivisionError from its __array__) propagates: clean
        P(f"process_round({tag})", X + E + f"result = eng.process_round({expr})", exp,
          codes=("missing_data", "wrong_length", "wrong_dtype", "non_finite"),
          errors=("value", "type", "user") if "raising" in tag else ("value", "type"))
    kw = {"num_samples NaN": ("num_samples=[float('nan')] + [1] * 14", {"reject"}),
          "num_samples negative": ("num_samples=[-1] + [1] * 14", {"reject"}),
          "num_samples short": ("num_samples=[1] * 14", {"error"}), "num_samples strings": ("num_samples=['a'] * 15", {"error"}),
          "num_samples None entry": ("num_samples=[None] + [1] * 14", {"error", "reject"}),
          "num_samples 2-D": ("num_samples=np.ones((15, 1))", {"error"}), "num_samples huge int": ("num_samples=[2**70] * 15", {"ok", "error"}),
          "num_samples dict": ("num_samples={'a': 1}", {"error"}), "num_samples scalar": ("num_samples=3", {"error"}),
          "client_ids short": ("client_ids=['a']", {"error"}), "client_ids None entries": ("client_ids=[None] * 15", {"reject", "ok"}),
          "client_ids NUL": ("client_ids=['a\\x00b'] + [str(i) for i in range(14)]", {"ok", "error"}),
          "client_ids surrogate": ("client_ids=['\\ud800'] + [str(i) for i in range(14)]", {"error", "ok"}),
          "client_ids bytes": ("client_ids=[b'\\xff'] + [str(i) for i in range(14)]", {"ok", "error"}),
          "client_ids a string": ("client_ids='abcdefghijklmno'", {"ok", "error"}),
          "client_ids int": ("client_ids=5", {"error"}),
          "expected_length -1": ("expected_length=-1", {"error"}), "expected_length 2**70": ("expected_length=2**70", {"error", "reject"}),
          "expected_length 0": ("expected_length=0", {"error", "reject"}), "expected_length 1.5": ("expected_length=1.5", {"error"}),
          "expected_length np.int64": ("expected_length=np.int64(8)", {"ok"}),
          "reference wrong length": ("reference=np.ones(7, np.float32)", {"error", "ok"}),
          "server_metrics nan": ("server_metrics={'loss': float('nan')}", {"ok", "error"}),
          "server_metrics string": ("server_metrics={'loss': 'x'}", {"error"}),
          "server_metrics non-str key": ("server_metrics={1: 1.0}", {"error", "ok"}),
          "server_metrics list": ("server_metrics=[1]", {"error"})}
    for tag, (k, exp) in kw.items():
        P(f"process_round {tag}", X + E + f"result = eng.process_round(X, {k})", exp,
          codes=("invalid_num_samples", "duplicate_id", "wrong_length"), errors=("value", "type"))
    FL = "eng = fg.Engine({'aggregator': {'rule': 'fltrust'}, 'monitoring': False})\n"
    for tag, ref in {"nan": "np.full(8, np.nan, np.float32)", "inf": "np.full(8, np.inf, np.float32)", "zero": "np.zeros(8, np.float32)",
                     "float64": "np.ones(8)", "2-D": "np.ones((1, 8), np.float32)", "short": "np.ones(7, np.float32)",
                     "list": "[1.0] * 8", "None": "None", "string": "'x'"}.items():
        exp = {"error"} if tag not in ("list", "float64", "2-D") else {"ok", "reject", "error"}
        msg_check = "" if tag not in ("nan", "inf") else "\n" + "RAISE_UNLESS_MSG = ('finite', 'nan', 'inf', 'NaN', 'Inf')"
        P(f"fltrust reference {tag}", X + FL + f"result = eng.process_round(X, reference={ref})" + msg_check, exp, errors=("value", "type"))
    # state through Python
    for tag, p in {"/dev/zero": "/dev/zero", "FIFO": fifo, "directory": d, "missing": b.path("missing.state"), "empty": empty,
                   "garbage": b.path("garbage.state"), "valid": valid_state, "int path": 5, "None path": None,
                   "bytes path": os.fsencode(valid_state), "NUL in path": "a\0b"}.items():
        exp = {"ok"} if tag in ("valid", "bytes path") else {"error"}
        errs = ("value", "os", "type") if tag in ("int path", "None path", "bytes path", "NUL in path") else ("os",)
        P(f"load_state({tag})", f"eng = fg.Engine({{'sketch_dim': 4}})\neng.load_state({p!r})", exp, errors=errs, surface="python.state")
    for tag, p in {"directory": d, "missing dir": b.path("nodir/x.state"), "FIFO": fifo}.items():
        P(f"save_state({tag})", X + E + f"eng.process_round(X)\neng.save_state({p!r})", {"error"}, errors=("os",), surface="python.state")
    P("valid state, round of d+1 (Python)", f"eng = fg.Engine({{'sketch_dim': 4, 'monitoring': False, 'filters': [{{'rule': 'fldetector', 'window': 2}}], 'aggregator': {{'rule': 'foolsgold'}}}})\n"
      f"eng.load_state({valid_state!r})\neng.process_round(np.ones((4, 9), np.float32) + np.arange(36, dtype=np.float32).reshape(4, 9))", {"error"},
      surface="python.state")
    # identity
    ID = "import fedguard.identity as ident\nsk, pk = ident.generate_key_pair()\nu = np.ones(8, np.float32)\n"
    idcases = {"sign short key": ("ident.sign_update(sk[:31], 'fed', 'c', 1, bytes(32), u)", {"error"}),
               "sign key str": ("ident.sign_update('x' * 32, 'fed', 'c', 1, bytes(32), u)", {"error"}),
               "sign nonce short": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(31), u)", {"error"}),
               "sign round -1": ("ident.sign_update(sk, 'fed', 'c', -1, bytes(32), u)", {"error"}),
               "sign round 2**64": ("ident.sign_update(sk, 'fed', 'c', 2**64, bytes(32), u)", {"error"}),
               "sign round 1.5": ("ident.sign_update(sk, 'fed', 'c', 1.5, bytes(32), u)", {"error"}),
               "sign round np.int64": ("result = ident.sign_update(sk, 'fed', 'c', np.int64(1), bytes(32), u)", {"ok"}),
               "sign federation NUL": ("ident.sign_update(sk, 'f\\x00d', 'c', 1, bytes(32), u)", {"error"}),
               "sign federation empty": ("ident.sign_update(sk, '', 'c', 1, bytes(32), u)", {"error"}),
               "sign client empty": ("ident.sign_update(sk, 'fed', '', 1, bytes(32), u)", {"error"}),
               "sign surrogate": ("ident.sign_update(sk, '\\ud800', 'c', 1, bytes(32), u)", {"error"}),
               "sign float64 update": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), u.astype(np.float64))", {"error"}),
               "sign 2-D update": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), np.ones((2, 4), np.float32))", {"ok", "error"}),
               "sign non-contiguous": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), np.ones(16, np.float32)[::2])", {"ok", "error"}),
               "sign None update": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), None)", {"error"}),
               "sign list update": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), [1.0, 2.0])", {"ok", "error"}),
               "sign empty update": ("ident.sign_update(sk, 'fed', 'c', 1, bytes(32), np.ones(0, np.float32))", {"ok", "error"}),
               "verify wrong lengths": ("result = ident.verify_signature(pk[:5], b'm', bytes(3))", {"ok", "error"}),
               "b64decode garbage": ("ident.b64decode('!!!')", {"error"}), "b64decode non-canonical": ("ident.b64decode('QQ=')", {"error"}),
               "b64decode None": ("ident.b64decode(None)", {"error"}), "b64decode 10 MB": ("ident.b64decode('A' * 10_000_001)", {"error", "ok"}),
               "nonce_from_hex short": ("ident.nonce_from_hex('00')", {"error"}), "nonce_from_hex junk": ("ident.nonce_from_hex('zz' * 32)", {"error"}),
               "nonce_from_hex None": ("ident.nonce_from_hex(None)", {"error"}),
               "public_key_of short": ("ident.public_key_of(b'x')", {"error"}),
               "Registry.from_json nested": ("ident.Registry.from_json('[' * 100000 + ']' * 100000)", {"error"}),
               "Registry.from_json duplicate": ("ident.Registry.from_json('{\"version\": 1, \"version\": 1, \"federation\": \"f\", \"clients\": []}')", {"error"}),
               "Registry.from_json None": ("ident.Registry.from_json(None)", {"error"}),
               "Registry.load FIFO": (f"ident.Registry.load({fifo!r})", {"error"}),
               "Registry.load /dev/zero": ("ident.Registry.load('/dev/zero')", {"error"}),
               "Registry.load directory": (f"ident.Registry.load({d!r})", {"error"}),
               "Registry() federation NUL": ("ident.Registry('a\\x00b')", {"error"}),
               "Registry max_clients -1": ("ident.Registry('f', max_clients=-1)", {"error"}),
               "Registry max_clients 2**64": ("ident.Registry('f', max_clients=2**64)", {"error"}),
               "Registry.add bad key": ("r = ident.Registry('f')\nr.add('a', b'x')", {"error"}),
               "Registry.add empty id": ("r = ident.Registry('f')\nr.add('', pk)", {"error"}),
               "Registry.add twice": ("r = ident.Registry('f')\nr.add('a', pk)\nr.add('b', pk)", {"error"}),
               "Registry.revoke unknown": ("r = ident.Registry('f')\nr.revoke('zz')", {"error"}),
               "Engine registry garbage text": ("fg.Engine({}, registry='{')", {"error"}),
               "Engine registry FIFO path": (f"fg.Engine({{}}, registry={fifo!r})", {"error"}),
               "process_round signatures wrong count": (X + "r = ident.Registry('fed')\nr.add('0', pk)\neng = fg.Engine({}, registry=r)\n"
                                                        "eng.process_round(X, signatures=[b'x'], round=1, nonce=bytes(32))", {"error"}),
               "process_round signatures garbage": (X + "r = ident.Registry('fed')\nr.add('0', pk)\neng = fg.Engine({}, registry=r)\n"
                                                    "result = eng.process_round(X, client_ids=[str(i) for i in range(15)], signatures=['!!'] * 15, round=1, nonce=bytes([1] * 32))", {"reject", "error"}),
               "process_round nonce short": (X + "r = ident.Registry('fed')\nr.add('0', pk)\neng = fg.Engine({}, registry=r)\n"
                                             "eng.process_round(X, signatures=[None] * 15, round=1, nonce=bytes(3))", {"error"}),
               "process_round round -1": (X + "r = ident.Registry('fed')\nr.add('0', pk)\neng = fg.Engine({}, registry=r)\n"
                                          "eng.process_round(X, signatures=[None] * 15, round=-1, nonce=bytes(32))", {"error"}),
               "process_round round 2**64": (X + "r = ident.Registry('fed')\nr.add('0', pk)\neng = fg.Engine({}, registry=r)\n"
                                             "eng.process_round(X, signatures=[None] * 15, round=2**64, nonce=bytes(32))", {"error"})}
    for tag, (code, exp) in idcases.items():
        P(f"identity: {tag}", ID + code, exp, codes=("bad_signature", "missing_signature", "unknown_client"),
          errors=("value", "type", "os"), surface="python.identity")
    # update log writer
    UL = f"import fedguard.update_log as ul, tempfile\nd = tempfile.mkdtemp(dir={W!r})\nw = ul.UpdateLogWriter(d)\n" + X
    ulcases = {"round -1": "w.append(-1, X)", "round 1.5": "w.append(1.5, X)", "round 2**64": "w.append(2**64, X)",
               "round None": "w.append(None, X)", "round repeated": "w.append(0, X)\nw.append(0, X)",
               "malicious not a client": "w.append(0, X, client_ids=[str(i) for i in range(15)], malicious=['zz'])",
               "client_ids short": "w.append(0, X, client_ids=['a'])", "client_ids duplicates": "w.append(0, X, client_ids=['a'] * 15)",
               "num_samples NaN": "w.append(0, X, num_samples=[float('nan')] * 15)", "num_samples short": "w.append(0, X, num_samples=[1])",
               "updates 3-D": "w.append(0, X.reshape(3, 5, 8))", "updates float64": "w.append(0, X.astype(np.float64))",
               "updates int": "w.append(0, X.astype(np.int32))", "updates empty": "w.append(0, np.zeros((0, 8), np.float32))",
               "updates None": "w.append(0, None)", "updates string": "w.append(0, 'abc')",
               "client_ids NUL": "w.append(0, X, client_ids=['a\\x00'] + [str(i) for i in range(14)])",
               "client_ids surrogate": "w.append(0, X, client_ids=['\\ud800'] + [str(i) for i in range(14)])",
               "metadata nested": "w.append(0, X, metadata={'x': {'y': {'z': {'a': {'b': {'c': {'d': {'e': {'f': 1}}}}}}}}})",
               "directory is a file": f"ul.UpdateLogWriter({upd!r})", "info not JSON": "ul.UpdateLogWriter(d + '/x', info={'a': object()})",
               "read_round FIFO": f"ul.read_round({os.path.join(W, 'logs', 'bad_fifo', 'r')!r})",
               "read_round /dev/zero": "ul.read_round('/dev/zero')", "read_manifest FIFO": f"ul.read_manifest({W!r} + '/fifo_log')"}
    os.makedirs(os.path.join(W, "fifo_log"), exist_ok=True)
    if not os.path.exists(os.path.join(W, "fifo_log", "manifest.json")):
        os.mkfifo(os.path.join(W, "fifo_log", "manifest.json"))
    for tag, code in ulcases.items():
        # float64 / int updates are stored as float32; repeated ids are the engine's duplicate_id
        exp = {"error"} if tag not in ("updates float64", "updates int", "client_ids duplicates") else {"ok", "error"}
        P(f"update_log: {tag}", UL + code, exp, errors=("value", "type", "os"), surface="python.update_log")
    # attacks / recommended_policy / describe_updates
    for tag, code in {"recommended_policy(-1)": "fg.recommended_policy(-1)", "recommended_policy(2**64)": "fg.Engine(fg.recommended_policy(2**64))",
                      "recommended_policy(1.5)": "fg.recommended_policy(1.5)", "recommended_policy('2')": "fg.recommended_policy('2')",
                      "attack unknown": X + "fg.attack('nope', X, 2)", "attack n_malicious -1": X + "fg.attack('alie', X, -1)",
                      "attack n_malicious 2**64": X + "fg.attack('alie', X, 2**64)", "attack benign NaN": "fg.attack('alie', np.full((4, 8), np.nan, np.float32), 2)",
                      "attack benign empty": "fg.attack('alie', np.zeros((0, 8), np.float32), 2)",
                      "attack benign float64": X + "fg.attack('alie', X.astype(np.float64), 2)",
                      "attack huge param": X + "fg.attack('alie', X, 2, z=1e308)", "attack param wrong type": X + "fg.attack('alie', X, 2, z='x')",
                      "attack seed -1": X + "fg.attack('alie', X, 2, seed=-1)", "describe_updates zero rows": "fg.describe_updates(np.zeros((0, 4), np.float32))",
                      "describe_updates expected_length -1": X + "fg.describe_updates(X, expected_length=-1)"}.items():
        exp = {"ok", "error"} if tag in ("attack huge param", "attack benign NaN", "attack benign float64",
                                         "describe_updates zero rows") else {"error"}
        P(tag, code, exp, errors=("value", "type"), surface="python")


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------

def leak_in(text):
    for leak in LEAKS:
        if leak in text:
            return leak
    return None


def check_npy_finite(path):
    try:
        a = np.load(path)
    except Exception as e:  # noqa: BLE001 - any failure to read is a finding
        return f"aggregate unreadable: {e}"
    if not np.all(np.isfinite(a)):
        return "non-finite value in the aggregate"
    return None


def run_cli(case, cli, work, timeout):
    argv = list(case["argv"])
    agg = None
    if case.get("agg") and argv[0] == "round" and "--aggregate-out" not in argv:
        agg = os.path.join(work, "agg_out.npy")
        if os.path.exists(agg):
            os.unlink(agg)
        argv += ["--aggregate-out", agg]
    if argv[0] == "round" and "--out" not in argv:
        out = os.path.join(work, "result_out.json")
        if os.path.exists(out):
            os.unlink(out)
        argv += ["--out", out]
    else:
        out = None
    t = case.get("timeout") or timeout
    try:
        p = subprocess.run([cli, *argv], capture_output=True, timeout=t, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "hang", f"no exit within {t} s"
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode < 0:
        return "crash", f"signal {-p.returncode}: {err[-300:]}"
    leak = leak_in(err)
    if leak:
        return "leak", f"exit {p.returncode}, message leaks {leak!r}: {err.strip()[-300:]}"
    if p.returncode in (2, 3, 4):
        if not err.strip():
            return "bad_error", f"exit {p.returncode} without a message"
        return "error", err.strip().splitlines()[-1][:200] if err.strip() else ""
    if p.returncode != 0:
        return "bad_exit", f"exit {p.returncode}: {err.strip()[-300:]}"
    # exit 0
    klass = "ok"
    detail = ""
    if out is not None and os.path.exists(out):
        try:
            with open(out) as f:
                res = json.load(f)
        except ValueError as e:
            return "bad_output", f"result is not JSON: {e}"
        codes = [r.get("code") for r in res.get("rejections", [])]
        if codes:
            klass = "reject"
            detail = ",".join(sorted(set(codes)))
            if case["codes"] and "reject" in case["expect"] and "ok" not in case["expect"] and not set(codes) & set(case["codes"]):
                return "wrong_reason", f"rejected with {detail}, expected one of {case['codes']}"
        if "reject" in case["expect"] and "ok" not in case["expect"] and not codes:
            klass = "ok"
    if agg is not None and os.path.exists(agg):
        why = check_npy_finite(agg)
        if why:
            return "nan_output", why
    chk = case.get("check")
    if chk and chk[0] == "scan_rounds":
        pass  # the scan finished (exit 0): the bad round was reported, the good one scanned
    if chk and chk[0] == "scan_error_rounds":
        outdir = argv[argv.index("--out") + 1]
        try:
            with open(os.path.join(outdir, "rounds.jsonl")) as f:
                lines = [json.loads(x) for x in f if x.strip()]
        except (OSError, ValueError) as e:
            return "bad_output", f"rounds.jsonl unreadable: {e}"
        if not any("error" in ln for ln in lines):
            return "silent", "the scan processed every round: the manifest's lie went unnoticed"
        return "ok", "round reported as an error"
    return klass, detail


WORKER_PRELUDE = "import numpy as np\nimport fedguard as fg\n"


def worker_main(work):
    """Runs Python cases read from stdin (one JSON line each), answers one JSON line each."""
    import fedguard as fg
    ns_base = {"np": np, "fg": fg, "W": work, "__name__": "hostile_probe_case"}  # type() needs __name__
    for line in sys.stdin:
        case = json.loads(line)
        ns = dict(ns_base)
        out = {"klass": None, "detail": ""}
        try:
            exec(compile(case["code"], case["name"], "exec"), ns)
            result = ns.get("result")
            out["klass"] = "ok"
            if result is not None:
                agg = getattr(result, "aggregate", result if isinstance(result, np.ndarray) else None)
                if agg is not None:
                    a = np.asarray(agg)
                    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                        out["klass"] = "nan_output"
                        out["detail"] = "non-finite value in the aggregate"
                rej = getattr(result, "rejections", None)
                if rej and out["klass"] == "ok":
                    out["klass"] = "reject"
                    out["detail"] = ",".join(sorted({r["code"] for r in rej}))
        except BaseException as e:  # noqa: BLE001 - classify everything
            msg = str(e)
            name = type(e).__name__
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                out["klass"] = "bad_exception"
            elif isinstance(e, RecursionError):
                out["klass"] = "bad_exception"
            elif isinstance(e, TypeError) and "incompatible function arguments" in msg:
                out["klass"] = "pybind_type_error"
            elif isinstance(e, fg.Error) or isinstance(e, ValueError):
                out["klass"] = "error"
            elif isinstance(e, TypeError) and "type" in case["errors"]:
                out["klass"] = "error"
            elif isinstance(e, OSError) and "os" in case["errors"]:
                out["klass"] = "error"
            elif isinstance(e, ZeroDivisionError) and "user" in case["errors"]:
                out["klass"] = "error"
            else:
                out["klass"] = "bad_exception"
            if out["klass"] == "error":
                leak = leak_in(msg)
                if leak:
                    out["klass"] = "leak"
                want = ns.get("RAISE_UNLESS_MSG")
                if want is None and "RAISE_UNLESS_MSG" in case["code"]:
                    want = ("finite", "nan", "inf", "NaN", "Inf")
                if want and not any(w in msg for w in want):
                    out["klass"] = "bad_message"
            out["detail"] = f"{name}: {msg[:300]}"
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


class PyWorker:
    def __init__(self, work):
        self.work = work
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", self.work],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def run(self, case, timeout):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps({"name": case["name"], "code": case["code"], "errors": case["errors"]}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            return "hang", f"no answer within {timeout} s"
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            self.proc = None
            return "crash", f"the interpreter died (exit {rc})"
        ans = json.loads(line)
        return ans["klass"], ans["detail"]

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait()


CLEAN = {"ok", "reject", "error"}


def judge(case, klass):
    if klass not in CLEAN:
        return klass
    if klass in case["expect"]:
        return None
    if klass == "ok" and "reject" in case["expect"] and case["kind"] == "py" and False:
        return None
    if klass in ("ok", "reject") and "error" in case["expect"]:
        return "silent"
    if klass == "ok" and "reject" in case["expect"]:
        return "silent"
    return "unexpected_" + klass


def select_quick(cases, per_surface):
    by = collections.defaultdict(list)
    for c in cases:
        by[c["surface"]].append(c)
    chosen = []
    for surf, cs in by.items():
        if len(cs) <= per_surface:
            chosen += cs
        else:
            step = len(cs) / per_surface
            chosen += [cs[int(i * step)] for i in range(per_surface)]
    return chosen


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.environ.get("FEDGUARD_CLI", "build/bin/fedguard"))
    ap.add_argument("--work", default=None, help="scratch directory (default: a new temporary one)")
    ap.add_argument("--quick", action="store_true", help="a stratified subset (about 25 cases per surface)")
    ap.add_argument("--per-surface", type=int, default=25)
    ap.add_argument("--only", default=None, help="only surfaces starting with this")
    ap.add_argument("--match", default=None, help="only cases whose name contains this")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    ap.add_argument("--json", default=None, help="write every case's outcome here")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    cli = os.path.abspath(args.cli)
    work = args.work or tempfile.mkdtemp(prefix="fedguard_probe_")
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    b = Builder(work, args.quick)
    b.cli_path = cli
    build_cases(b)
    cases = b.cases
    total_generated = len(cases)
    if args.only:
        cases = [c for c in cases if c["surface"].startswith(args.only)]
    if args.match:
        cases = [c for c in cases if args.match in c["name"]]
    if args.quick:
        cases = select_quick(cases, args.per_surface)
    worker = PyWorker(work)
    table = collections.defaultdict(collections.Counter)
    findings = []
    records = []
    for i, case in enumerate(cases):
        t = case.get("timeout") or args.timeout
        if case["kind"] == "cli":
            klass, detail = run_cli(case, cli, work, t)
        else:
            klass, detail = worker.run(case, min(t, 30.0))
        finding = judge(case, klass)
        table[case["surface"]][klass] += 1
        rec = {"surface": case["surface"], "name": case["name"], "outcome": klass, "detail": detail,
               "expect": sorted(case["expect"]), "finding": finding}
        records.append(rec)
        if finding:
            findings.append(rec)
            table[case["surface"]]["FINDINGS"] += 1
        if args.verbose:
            print(f"[{i + 1}/{len(cases)}] {case['surface']}: {case['name']}: {klass} {detail[:120]}", flush=True)
    worker.close()
    wall = time.time() - t0
    cols = ["ok", "reject", "error", "FINDINGS"]
    print(f"hostile probe: {len(cases)} cases (of {total_generated} generated), {len(findings)} findings, {wall:.1f} s")
    print(f"{'surface':<22}" + "".join(f"{c:>10}" for c in ["cases"] + cols))
    for surf in sorted(table):
        cnt = table[surf]
        n = sum(v for k, v in cnt.items() if k != "FINDINGS")
        print(f"{surf:<22}{n:>10}" + "".join(f"{cnt.get(c, 0):>10}" for c in cols))
    for f in findings:
        print(f"FINDING [{f['finding']}] {f['surface']}: {f['name']}: {f['outcome']}: {f['detail'][:400]} (expected {f['expect']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": len(cases), "generated": total_generated, "findings": len(findings), "wall_s": wall,
                       "records": records}, f, indent=1)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
