// HDBSCAN* on a precomputed n x n distance matrix, as used by the FLAME rule.
// Papers, conventions, tie rules and every departure from the Python `hdbscan` package are
// listed at the top of hdbscan.cc.
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::cluster {

/// How flat clusters are read off the condensed tree.
enum class ClusterSelection {
  kExcessOfMass,  // "eom": the most stable clusters (Campello et al. 2013); the default
  kLeaf,          // "leaf": the leaves of the condensed cluster tree
};

struct HdbscanParams {
  /// Smallest group of points that counts as a cluster; >= 2.
  std::size_t min_cluster_size = 5;
  /// Neighbour count of the core distance, not counting the point itself (the `hdbscan`
  /// package's convention for precomputed matrices). scikit-learn's min_samples and the paper's
  /// m_pts count the point, so they equal this + 1. >= 1; clamped to n - 1.
  std::size_t min_samples = 5;
  /// Lets the root (all points) be selected as the one cluster.
  bool allow_single_cluster = false;
  ClusterSelection selection = ClusterSelection::kExcessOfMass;
  /// Input tolerance: |d(i,j) - d(j,i)| <= tolerance * max(1, |d(i,j)|, |d(j,i)|),
  /// |d(i,i)| <= tolerance, and d(i,j) >= -tolerance. Asymmetric pairs within it are averaged,
  /// negative entries within it read as 0, the diagonal is ignored. >= 0.
  double tolerance = 1e-9;
};

/// FLAME's parameters (Nguyen et al., USENIX Security 2022): min_cluster_size = n/2 + 1
/// (at least 2, so n = 1 gets 2 and its single point is the one cluster), min_samples = 1,
/// allow_single_cluster, excess of mass.
HdbscanParams flame_hdbscan_params(std::size_t n);

struct HdbscanResult {
  /// Cluster of each point, -1 for noise. Clusters are numbered 0, 1, ... in the order of
  /// their smallest point index (so cluster 0 holds the lowest-indexed clustered point).
  std::vector<int> labels;
  /// Membership strength in [0, 1]; 0 for noise.
  std::vector<double> probabilities;
  /// GLOSH outlier score in [0, 1] (Campello et al., TKDD 2015), as the package computes it.
  std::vector<double> outlier_scores;
  /// Number of distinct labels other than -1.
  std::size_t num_clusters = 0;
  /// How many times three or more components merged at exactly the same mutual-reachability
  /// distance. Such ties are merged simultaneously here; a pairwise single linkage (the
  /// package) may then give a different, order-dependent answer. 0 means no tie rule was used.
  std::size_t simultaneous_merges = 0;
};

/// Clusters n points given their distances, row-major n x n (dist.size() == n * n).
/// Throws fedguard::Error (kInvalidInput) on bad parameters or input: n == 0, wrong size,
/// non-finite or negative entries, non-zero diagonal, asymmetry beyond params.tolerance.
/// Deterministic: the same input gives bit-identical output, and permuting the points
/// permutes the labels (up to their numbering) and the other outputs.
/// @param dist row-major n x n distances
/// @param n number of points, >= 1
/// @param params see HdbscanParams
HdbscanResult hdbscan(const std::vector<double>& dist, std::size_t n, const HdbscanParams& params);

/// Same, on a raw row-major n x n buffer (not copied unless it is asymmetric within tolerance).
HdbscanResult hdbscan(const double* dist, std::size_t n, const HdbscanParams& params);

}  // namespace fedguard::cluster
