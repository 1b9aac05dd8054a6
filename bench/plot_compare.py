#!/usr/bin/env python3
"""Plots for bench/compare.py's JSON: time against n and against d (log-log), one panel per rule,
one line per implementation; and the scaling sweeps with their fitted cost models.

    python3 bench/plot_compare.py bench/results/compare_cpu_<date>.json     # -> _vs_n.png, _vs_d.png
    python3 bench/plot_compare.py bench/results/scaling_cpu_<date>.json     # -> .png
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"fedguard": dict(lw=2.4), "byzfl": dict(ls="--"), "flower": dict(ls=":"), "torch": dict(ls="-.")}


def _panel_grid(k):
    cols = min(4, k)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    return fig, [ax for row in axes for ax in row]


def plot_compare(json_path: str, out_prefix: str) -> list:
    res = json.loads(Path(json_path).read_text())
    recs = [r for r in res["records"] if r.get("median_ms")]
    if not recs:
        return []
    rules = []
    for r in recs:
        if r["rule"] not in rules:
            rules.append(r["rule"])
    ns = sorted({r["n"] for r in recs})
    ds = sorted({r["d"] for r in recs})
    written = []
    # vs n at the largest d; vs d at the n closest to 100
    fixed_d = max(ds)
    fixed_n = min(ns, key=lambda n: abs(math.log(n / 100)))
    for axis, fixed, key, other in (("n", fixed_d, "n", "d"), ("d", fixed_n, "d", "n")):
        fig, axes = _panel_grid(len(rules))
        for ax, rule in zip(axes, rules):
            impls = []
            for r in recs:
                if r["rule"] == rule and r["impl"] not in impls:
                    impls.append(r["impl"])
            for impl in impls:
                pts = sorted((r[key], r["median_ms"], r["min_ms"], r["max_ms"]) for r in recs
                             if r["rule"] == rule and r["impl"] == impl and r[other] == fixed)
                if not pts:
                    continue
                x = [p[0] for p in pts]
                y = [p[1] for p in pts]
                err = [[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]]
                fam = impl.split()[0]
                ax.errorbar(x, y, yerr=err, marker="o", ms=3, capsize=2, label=impl, **STYLE.get(fam, {}))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{rule} ({other} = {fixed:,})", fontsize=10)
            ax.set_xlabel(axis)
            ax.set_ylabel("time (ms)")
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes[len(rules):]:
            ax.axis("off")
        handles, labels = {}, {}
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=min(6, len(handles)),
                   fontsize=8, frameon=False)
        meta = res["meta"]
        fig.suptitle(f"fedguard vs peers: time vs {axis} ({meta['device']}, {meta['date_utc'][:10]})", fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 0.96))
        path = f"{out_prefix}_vs_{axis}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def plot_scaling(json_path: str, png_path: str) -> str:
    res = json.loads(Path(json_path).read_text())
    recs = [r for r in res["records"] if r.get("median_ms")]
    fits = {(f["impl"], f["rule"]): f["coef_s"] for f in res.get("fits", [])}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, sweep, key in ((axes[0], "n", "n"), (axes[1], "d", "d")):
        groups = []
        for r in recs:
            g = (r["impl"], r["rule"])
            if r.get("sweep") == sweep and g not in groups:
                groups.append(g)
        for impl, rule in groups:
            pts = sorted((r[key], r["median_ms"], r["n"], r["d"]) for r in recs
                         if r.get("sweep") == sweep and r["impl"] == impl and r["rule"] == rule)
            line = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", label=f"{impl} {rule}")[0]
            c = fits.get((impl, rule))
            if c and len(pts) > 1:
                lo, hi = pts[0], pts[-1]
                xs = [lo[0] * (hi[0] / lo[0]) ** (i / 40) for i in range(41)]
                ys = []
                for x in xs:
                    n, d = (x, lo[3]) if sweep == "n" else (lo[2], x)
                    ys.append(1e3 * (c.get("const", 0) + c.get("n*d", 0) * n * d + c.get("n^2*d", 0) * n * n * d))
                terms = " + ".join(k for k in ("n*d", "n^2*d") if c.get(k))
                ax.plot(xs, ys, "-", color=line.get_color(), alpha=0.6, label=f"fit: const + {terms}")
        fixed = "d = {:,}".format(recs[0]["d"]) if sweep == "n" else "n = {:,}".format(
            next((r["n"] for r in recs if r.get("sweep") == "d"), 0))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel("time per round (ms)")
        ax.set_title(f"time vs {key}" + (f" ({fixed})" if sweep == "d" else
                                          " (d = {:,})".format(next((r["d"] for r in recs if r.get("sweep") == "n"), 0))),
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    meta = res["meta"]
    fig.suptitle(f"fedguard scaling ({meta['device']}, {meta['date_utc'][:10]})", fontsize=11)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return png_path


def main(argv):
    for p in argv:
        res = json.loads(Path(p).read_text())
        if "fits" in res:
            print(plot_scaling(p, p[:-5] + ".png"))
        else:
            print("\n".join(plot_compare(p, p[:-5])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
