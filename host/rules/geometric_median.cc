// Geometric median (RFA).
// Pillutla, Kakade, Harchaoui, "Robust Aggregation for Federated Learning", IEEE Transactions
// on Signal Processing 2022. argmin_z sum_i a_i ||z - x_i||, a_i proportional to num_samples.
// Smoothed Weiszfeld: b_i = a_i / max(nu, ||z - x_i||), z <- sum b_i x_i / sum b_i, started at
// the weighted mean. Parameters: nu [1e-6, in the units of the updates], max_iter, tol.
// Departure: the paper runs a few iterations; we iterate until the step ||z_new - z|| falls
// below tol times the mean distance to the points (or max_iter), so the output is the
// geometric median, not an approximation of it. Runs entirely in Gram space: z is always a
// weighted sum of the candidates, so each iteration costs O(n^2), independent of d.
#include <cmath>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class GeometricMedian final : public Rule {
 public:
  explicit GeometricMedian(const RuleSpec& spec) {
    Params p(spec);
    nu_ = p.number("nu", 1e-6, 0.0);
    FEDGUARD_EXPECTS(nu_ > 0, "rule 'geometric_median': parameter 'nu' must be > 0 (it bounds 1 / distance)");
    max_iter_ = p.count("max_iter", 1000);
    tol_ = p.number("tol", 1e-10, 0.0);
    p.finish();
  }
  std::string name() const override { return "geometric_median"; }
  bool can_aggregate() const override { return true; }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "geometric_median needs at least 1 client, got 0 " << round.losses);
    const std::vector<double> k = c.centred_gram(round.space);
    const std::vector<double> a = candidate_weights(round, c);
    std::vector<double> alpha = a, next(n), dist(n), k_alpha(n);

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
      double total = 0, spread = 0;
      for (std::size_t i = 0; i < n; ++i) {
        next[i] = a[i] / std::max(nu_, dist[i]);
        total += next[i];
        spread += a[i] * dist[i];
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
      if (std::sqrt(std::max(0.0, step)) <= tol_ * spread) break;
    }

    distances(alpha);
    AggregatePlan plan;
    plan.verdict = keep_all(n, "geometric_median");
    plan.verdict.score = dist;  // distance of each candidate to the median
    plan.weights = alpha;
    return plan;
  }

 private:
  double nu_;
  std::size_t max_iter_;
  double tol_;
};

}  // namespace

std::unique_ptr<Rule> make_geometric_median(const RuleSpec& spec) {
  return std::make_unique<GeometricMedian>(spec);
}

}  // namespace fedguard::rules
