// Robust location and scale, and the thresholds that turn a per-client false-alarm budget into
// a z cut-off at any number of clients (docs/detection.md, "Calibration").
#pragma once

#include <cstddef>
#include <vector>

#include "common/median.h"

namespace fedguard::detection {

using fedguard::median;  // common/median.h
using fedguard::median_in_place;

struct Location {
  double centre = 0;  ///< the median
  double scale = 0;   ///< 1.4826 MAD with the small-sample factor n / (n - 0.8), >= floor
};

/// Median and MAD-based scale of v (not empty), the scale raised to `floor` when smaller.
Location robust_location(std::vector<double> v, double floor = 0);
/// The same, reordering and overwriting v (its memory can then be reused).
Location robust_location_in_place(std::vector<double>& v, double floor = 0);
/// The same on a team of `workers`, bit for bit, for the collusion signals' m (m - 1) / 2 pair
/// residuals: from kBracketedMedianMin values on, each median is selected among the values
/// inside a bracket that a sorted sample of 4096 of them sets around its rank, found by one pass
/// on the team (the values below counted, those inside gathered); where the bracket misses the
/// rank (a sample unlike the whole, or NaN among the values), by one selection over all.
Location robust_location_in_place(std::vector<double>& v, double floor, int workers);
constexpr std::size_t kBracketedMedianMin = 1 << 16;

/// (v - centre) / scale; +-inf where scale is 0 and v differs from the centre, 0 where equal.
double robust_z(double v, const Location& at);

/// Phi^-1(p) of the standard normal, 0 < p < 1 (Acklam's rational approximation, refined by
/// one Halley step on std::erfc: about 1e-15 relative).
double normal_quantile(double p);

/// Quantile of Student's t with nu >= 1 degrees of freedom (Cornish-Fisher expansion in 1/nu,
/// Abramowitz & Stegun 26.7.5; within 1% in the tail probability for nu >= 3 and p <= 0.9995).
double t_quantile(double p, double nu);

/// The z cut-off with P(z > cut) = alpha (one-sided) or P(|z| > cut) = alpha (two-sided) for a
/// robust z computed from n values whose bulk is normal. The median/MAD estimate has the
/// efficiency of about 0.55 (n - 1) degrees of freedom of a t statistic: measured by
/// simulation, it holds the false-alarm rate within 20% of alpha for n >= 10 (tests/detection).
double calibrated_cut(double alpha, std::size_t n, bool two_sided);

/// P(X >= g) for X ~ Binomial(m, q): the chance that at least g of m independent clients, each
/// past a cut with probability q, are past it. Summed in float64 outwards from its largest term,
/// each term from its neighbour by the ratio of binomial coefficients, until the terms no longer
/// count; 0 for g > m or q not positive (NaN included).
double binomial_upper_tail(std::size_t g, std::size_t m, double q);

/// The z cut-off that at least g of n clients pass with probability at most alpha, each client's
/// z with the tail calibrated_cut gives it (Student's t with 0.55 (n - 1) degrees of freedom,
/// one tail): t_quantile(1 - q, nu) at the largest q with binomial_upper_tail(g, n, q) <= alpha
/// (bisection). For g = 1 this is a cut for the whole round, not a per-client one.
double calibrated_group_cut(std::size_t g, std::size_t n, double alpha);

/// The smallest number of clients the calibration is made for.
constexpr std::size_t kMinClients = 8;

}  // namespace fedguard::detection
