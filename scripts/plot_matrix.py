#!/usr/bin/env python3
"""Heat maps of an attack matrix (the matrix.json that `fedguard simulate --matrix` writes):
final accuracy, and the detection true- and false-positive rates, policies x attacks.

Usage: scripts/plot_matrix.py MATRIX_JSON [--out matrix.png]
"""
import argparse
import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def grid(matrix, key, policies, attacks):
    cells = {(c["policy"], c["attack"]): c["summary"] for c in matrix["cells"]}
    out = []
    for p in policies:
        row = []
        for a in attacks:
            v = cells.get((p, a), {}).get(key)
            row.append(float("nan") if v is None else 100.0 * v)
        out.append(row)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("matrix_json")
    ap.add_argument("--out", default="matrix.png")
    args = ap.parse_args()
    with open(args.matrix_json) as f:
        m = json.load(f)
    policies = list(m["policies"])
    attacks = list(m["attacks"])
    panels = [("final_accuracy", "final test accuracy (%)", "viridis", attacks),
              ("mean_tpr", "malicious clients rejected (TPR, %)", "Greens", [a for a in attacks if a != "none"]),
              ("mean_fpr", "benign clients rejected (FPR, %)", "Reds", attacks)]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 0.42 * len(policies) + 2.5))
    for ax, (key, title, cmap, cols) in zip(axes, panels):
        g = grid(m, key, policies, cols)
        im = ax.imshow(g, cmap=cmap, vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(policies)), policies, fontsize=8)
        ax.set_title(title, fontsize=10)
        for i, row in enumerate(g):
            for j, v in enumerate(row):
                if not math.isnan(v):
                    dark = (v < 55) if cmap == "viridis" else (v > 55)
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6.5,
                            color="white" if dark else "black")
        fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    base = m.get("base", {})
    fig.suptitle(f"fedguard attack matrix: {base.get('clients', '?')} clients, {base.get('malicious', '?')} malicious, "
                 f"alpha = {base.get('alpha', '?')}, {base.get('rounds', '?')} rounds, {base.get('model', 'mlp')}",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"plot_matrix: wrote {args.out}")


if __name__ == "__main__":
    main()
