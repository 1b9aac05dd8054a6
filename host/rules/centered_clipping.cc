// Centred clipping.
// Karimireddy, He, Jaggi, "Learning from History for Byzantine Robust Optimization", ICML 2021.
// v_0 = the previous round's aggregate (kept by the engine; the zero vector at the first
// round). L times: v <- v + (1/n) sum_i (x_i - v) min(1, tau / ||x_i - v||).
// Parameters tau [10] and iterations L [3]. The paper's worker momentum (0.9) is the clients'
// business: they send momenta. Uniform weights, as in the paper. In Gram space v stays an
// affine combination of the candidates and v_0, so each iteration costs O(n^2).
#include <cmath>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class CenteredClipping final : public Rule {
 public:
  explicit CenteredClipping(const RuleSpec& spec) {
    Params p(spec);
    tau_ = p.number("tau", 10.0, 0.0);
    iterations_ = p.count("iterations", 3, kMaxIterations);
    p.finish();
  }
  std::string name() const override { return "centered_clipping"; }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "centered_clipping needs at least 1 client, got 0 " << round.losses);
    const GramSpace& space = round.space;
    const std::size_t dim = space.dim();

    // Vectors z_0..z_{n-1} = candidates, z_n = v_0 (raw coefficients; zero vector if none).
    std::vector<double> raw = c.raw(space);
    raw.resize((n + 1) * dim, 0.0);
    if (round.previous_aggregate) raw[n * dim + space.clients() + *round.previous_aggregate] = 1.0;
    const std::size_t m = n + 1;
    const std::vector<double> k = space.centred_gram(raw, m);

    std::vector<double> gamma(m, 0.0), dist(n);
    gamma[n] = 1.0;  // v = v_0
    auto distances = [&] {
      std::vector<double> kg(m, 0.0);
      double quad = 0;
      for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < m; ++j) kg[i] += k[i * m + j] * gamma[j];
        quad += gamma[i] * kg[i];
      }
      for (std::size_t i = 0; i < n; ++i)
        dist[i] = std::sqrt(std::max(0.0, k[i * m + i] - 2 * kg[i] + quad));
    };
    for (std::size_t it = 0; it < iterations_; ++it) {
      distances();
      std::vector<double> next(gamma);
      double moved = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double s = dist[i] > tau_ ? tau_ / dist[i] : 1.0;
        next[i] += s / static_cast<double>(n);
        moved += s / static_cast<double>(n);
      }
      for (std::size_t j = 0; j < m; ++j) next[j] -= moved * gamma[j];
      gamma.swap(next);
    }
    distances();

    AggregatePlan plan;
    plan.verdict = keep_all(n, "centered_clipping");
    plan.verdict.score = dist;  // distance of each candidate to the final centre
    plan.weights.assign(gamma.begin(), gamma.begin() + static_cast<std::ptrdiff_t>(n));
    plan.reference_weights["previous_aggregate"] = gamma[n];
    if (round.previous_aggregate && gamma[n] != 0) {
      plan.extra_raw.assign(dim, 0.0);
      plan.extra_raw[space.clients() + *round.previous_aggregate] = gamma[n];
    }
    return plan;
  }

 private:
  double tau_;
  std::size_t iterations_;
};

}  // namespace

std::unique_ptr<Rule> make_centered_clipping(const RuleSpec& spec) {
  return std::make_unique<CenteredClipping>(spec);
}

}  // namespace fedguard::rules
