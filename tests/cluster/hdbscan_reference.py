#!/usr/bin/env python3
"""Reference labels from the Python `hdbscan` package for tests/cluster/hdbscan_test.cc.

Usage: hdbscan_reference.py MANIFEST OUTPUT

Each MANIFEST line: NPY_PATH MIN_CLUSTER_SIZE MIN_SAMPLES ALLOW_SINGLE_CLUSTER(0|1) METHOD(eom|leaf)
where NPY_PATH holds an n x n float64 distance matrix. For each line OUTPUT gets three lines:
  L label_0 ... label_{n-1}
  P probability_0 ...
  O outlier_score_0 ...
(floats in repr form, so they round-trip exactly). Exit status 3 when numpy or hdbscan cannot be
imported (the test then skips), 0 on success. Tested with hdbscan 0.8.44.
"""
import sys
import warnings


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import numpy as np
        import hdbscan
    except ImportError as e:  # the C++ test skips on this
        print(f"hdbscan_reference: {e}", file=sys.stderr)
        return 3
    warnings.simplefilter("ignore")
    out_lines = []
    with open(argv[1]) as manifest:
        for line in manifest:
            fields = line.split()
            if not fields:
                continue
            path, mcs, ms, single, method = fields
            dist = np.load(path)
            clusterer = hdbscan.HDBSCAN(
                metric="precomputed",
                min_cluster_size=int(mcs),
                min_samples=int(ms),
                allow_single_cluster=bool(int(single)),
                cluster_selection_method=method,
            ).fit(dist)
            out_lines.append("L " + " ".join(str(int(v)) for v in clusterer.labels_))
            out_lines.append("P " + " ".join(repr(float(v)) for v in clusterer.probabilities_))
            out_lines.append("O " + " ".join(repr(float(v)) for v in clusterer.outlier_scores_))
    with open(argv[2], "w") as out:
        out.write("\n".join(out_lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
