// Geometric median (RFA).
// Pillutla, Kakade, Harchaoui, "Robust Aggregation for Federated Learning", IEEE Transactions
// on Signal Processing 2022. argmin_z sum_i a_i ||z - x_i||, a_i proportional to num_samples.
// Smoothed Weiszfeld: b_i = a_i / max(nu, ||z - x_i||), z <- sum b_i x_i / sum b_i, started at
// the weighted mean. Parameters: nu [1e-6, in the units of the updates], max_iter, tol.
// Departure: the paper runs a few iterations from the mean; we iterate until the step
// ||z_new - z|| falls below tol times the median distance to the points (or max_iter), so the
// output is the geometric median, not an approximation of it. Runs entirely in Gram space: z
// is always a weighted sum of the candidates, so each iteration costs O(n^2), independent of d.
// Breakdown point 1/2, also in floating point: the start is the mean of the half of the
// candidates nearest the medoid (one row at 1e30 does not move it), the stopping rule is
// relative to the median distance (not the mean, which one far row makes as large as it
// likes), and the weights a_i / max(nu, d_i) are formed relative to the smallest of the
// max(nu, d_i), so they neither overflow for tiny distances nor underflow for huge ones.
#include <algorithm>
#include <cmath>
#include <limits>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class GeometricMedian final : public Rule {
 public:
  explicit GeometricMedian(const RuleSpec& spec) {
    Params p(spec);
    nu_ = p.number("nu", 1e-6, 0.0);
    FEDGUARD_EXPECTS(
        nu_ > 0, "rule 'geometric_median': parameter 'nu' must be > 0 (it bounds 1 / distance)");
    max_iter_ = p.count("max_iter", 1000, kMaxIterations);
    tol_ = p.number("tol", 1e-10, 0.0);
    p.finish();
  }
  std::string name() const override { return "geometric_median"; }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "geometric_median needs at least 1 client, got 0 " << round.losses);
    const std::vector<double> k = c.centred_gram(round.space);
    const std::vector<double> a = candidate_weights(round, c);
    std::vector<double> alpha = robust_start(k, a, n), next(n), dist(n), k_alpha(n);

    // ||z - y_i||^2 = alpha' K alpha - 2 (K alpha)_i + K_ii, valid because sum(alpha) = 1.
    auto distances = [&](const std::vector<double>& w) {
      double quad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < n; ++j) s += k[i * n + j] * w[j];
        k_alpha[i] = s;
        quad += w[i] * s;
      }
      for (std::size_t i = 0; i < n; ++i)
        dist[i] = std::sqrt(std::max(0.0, quad - 2 * k_alpha[i] + k[i * n + i]));
    };

    for (std::size_t it = 0; it < max_iter_; ++it) {
      distances(alpha);
      // b_i = a_i / max(nu, d_i), scaled by the smallest max(nu, d_i): every factor is in (0, 1].
      double smallest = std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < n; ++i) smallest = std::min(smallest, std::max(nu_, dist[i]));
      double total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        next[i] = a[i] * (smallest / std::max(nu_, dist[i]));
        total += next[i];
      }
      for (double& x : next) x /= total;
      // Step length ||z_next - z||^2 = delta' K delta.
      double step = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < n; ++j) s += k[i * n + j] * (next[j] - alpha[j]);
        step += (next[i] - alpha[i]) * s;
      }
      alpha.swap(next);
      if (std::sqrt(std::max(0.0, step)) <= tol_ * weighted_median(dist, a)) break;
    }

    distances(alpha);
    AggregatePlan plan;
    plan.verdict = keep_all(n, "geometric_median");
    plan.verdict.score = dist;  // distance of each candidate to the median
    plan.weights = alpha;
    return plan;
  }

 private:
  // The weighted median of v (weights a summing to 1): the smallest v_i with at least half the
  // weight at or below it.
  static double weighted_median(const std::vector<double>& v, const std::vector<double>& a) {
    std::vector<std::size_t> order(v.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::size_t x, std::size_t y) { return v[x] < v[y]; });
    double below = 0;
    for (std::size_t i : order) {
      below += a[i];
      if (below >= 0.5) return v[i];
    }
    return v[order.back()];
  }

  // Start: the medoid (the candidate with the least weighted sum of distances to the others),
  // then the weighted mean of the candidates nearest it that together hold at least half the
  // weight. Farther candidates, whatever their magnitude, get weight 0.
  static std::vector<double> robust_start(const std::vector<double>& k,
                                          const std::vector<double>& a, std::size_t n) {
    std::vector<double> sq(n * n);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        sq[i * n + j] = std::max(0.0, k[i * n + i] + k[j * n + j] - 2 * k[i * n + j]);
    std::size_t medoid = 0;
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < n; ++j) s += a[j] * std::sqrt(sq[i * n + j]);
      if (s < best) best = s, medoid = i;  // ties: the lowest index
    }
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
      return sq[medoid * n + x] < sq[medoid * n + y];
    });
    std::vector<double> alpha(n, 0.0);
    double held = 0;
    for (std::size_t i : order) {
      if (held >= 0.5) break;
      alpha[i] = a[i];
      held += a[i];
    }
    for (double& x : alpha) x /= held;
    return alpha;
  }

  double nu_;
  std::size_t max_iter_;
  double tol_;
};

}  // namespace

std::unique_ptr<Rule> make_geometric_median(const RuleSpec& spec) {
  return std::make_unique<GeometricMedian>(spec);
}

}  // namespace fedguard::rules
