// FLDetector's numerical pieces, exposed for the tests (host/rules/fldetector.cc has the rule).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard::rules::fldetector {

/// L-BFGS Hessian-vector product H v from the pairs (s_j, y_j), oldest first, in the compact
/// form of Byrd, Nocedal & Schnabel (1994) as FLDetector writes it:
///   sigma = y^T s / s^T s of the newest pair, L = strictly lower triangle of S^T Y,
///   D = diag(S^T Y), H v = sigma v - [sigma S, Y] [[sigma S^T S, L], [L^T, -D]]^-1 [sigma S^T v;
///   Y^T v].
/// Pairs with s^T s = 0 are skipped; with no usable pair the product is zero. When the middle
/// matrix is singular, the oldest pairs are dropped until it is not.
std::vector<double> lbfgs_hvp(const std::vector<std::vector<double>>& s,
                              const std::vector<std::vector<double>>& y,
                              const std::vector<double>& v);

/// Within-cluster sum of squares of the optimal k-means clustering of the 1-D values x, for
/// k = 1..max_k (exact: dynamic programming over the sorted values, divide and conquer on the
/// monotone split points). Entry k-1 holds W_k.
std::vector<double> kmeans_1d_costs(std::vector<double> x, std::size_t max_k);

/// Optimal 1-D 2-means: per value, 1 for the cluster with the larger mean.
std::vector<std::uint8_t> two_means_upper(const std::vector<double>& x);

/// Gap statistic (Tibshirani, Walther & Hastie 2001) on values already scaled to [0, 1]: the
/// smallest k in 1..max_k with Gap(k) >= Gap(k+1) - s_{k+1}, the reference sets drawn uniform
/// on [0, 1] (`references` of them) from a generator seeded with seed.
std::size_t gap_statistic(const std::vector<double>& x, std::size_t max_k, std::size_t references,
                          std::uint64_t seed);

}  // namespace fedguard::rules::fldetector
