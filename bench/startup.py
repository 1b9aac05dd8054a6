#!/usr/bin/env python3
"""Start-up cost of the command line and the Python module (issue #12): what a server that runs
`fedguard round` once per round, or a script scoring many logs, pays every time.

Median wall time over --reps runs of: `fedguard --version`, a small `fedguard round` (n = 20
clients, d = 1,000, the recommended preset, CPU) and `python -c "import fedguard"` against
`python -c "import numpy"` (the floor: fedguard imports numpy). Each binary given is measured in
the same run (e.g. an older build for the before/after comparison), with the number of shared
libraries it links (ldd).

    python3 bench/startup.py --cli build/bin/fedguard [--cli OTHER/fedguard] --python-path build/python
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def median_seconds(cmd, reps, env=None):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", action="append", required=True, help="a fedguard binary (repeatable)")
    ap.add_argument("--python-path", help="PYTHONPATH holding the fedguard package to import")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--out", help="JSON results")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="fedguard_startup_")
    rng = np.random.default_rng(1)
    np.save(os.path.join(tmp, "u.npy"), rng.standard_normal((20, 1000)).astype(np.float32))
    with open(os.path.join(tmp, "c.json"), "w") as f:
        json.dump({"preset": "recommended", "backend": "cpu"}, f)
    rows = []
    for cli in args.cli:
        libs = subprocess.run(["ldd", cli], capture_output=True, text=True).stdout.count("=>")
        v, v_min = median_seconds([cli, "--version"], args.reps)
        r, r_min = median_seconds([cli, "round", "--updates", os.path.join(tmp, "u.npy"), "--config",
                                   os.path.join(tmp, "c.json"), "--out", os.path.join(tmp, "r.json")], args.reps)
        rows.append({"cli": cli, "shared_libraries": libs, "version_median_s": v, "version_min_s": v_min,
                     "round_n20_d1000_median_s": r, "round_min_s": r_min})
        print(f"{cli}: {libs} shared libraries; --version {v * 1e3:.1f} ms (min {v_min * 1e3:.1f}); "
              f"round n=20 d=1000 {r * 1e3:.1f} ms (min {r_min * 1e3:.1f})")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "reps": args.reps, "cli": rows}
    if args.python_path:
        env = dict(os.environ, PYTHONPATH=args.python_path)
        n, n_min = median_seconds([sys.executable, "-c", "import numpy"], args.reps, env)
        g, g_min = median_seconds([sys.executable, "-c", "import fedguard"], args.reps, env)
        maps = subprocess.run([sys.executable, "-c", "import fedguard; print(open('/proc/self/maps').read())"],
                              capture_output=True, text=True, env=env, check=True).stdout
        heavy = sorted({line.split()[-1] for line in maps.splitlines()
                        if any(h in line for h in ("libtorch", "libc10", "libcudart", "libcublas", "libfedguard_cuda"))})
        result["python"] = {"import_numpy_median_s": n, "import_fedguard_median_s": g, "fedguard_minus_numpy_s": g - n,
                            "heavy_libraries_mapped": heavy}
        print(f"python: import numpy {n * 1e3:.1f} ms, import fedguard {g * 1e3:.1f} ms "
              f"(+{(g - n) * 1e3:.1f} ms over numpy); LibTorch/CUDA mapped: {heavy or 'none'}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
