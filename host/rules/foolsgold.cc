// FoolsGold.
// Fung, Yoon, Beschastnikh, "The Limitations of Federated Learning in Sybil Settings", RAID 2020.
// Sybils pushing one objective send updates that stay alike across rounds; FoolsGold lowers the
// weight of clients whose cumulative histories are too similar to another's.
//   H_i = the client's cumulative update over every round it took part in (this one included),
//   cs_ij = cos(H_i, H_j) for i != j, v_i = max_j cs_ij;
//   pardoning: if v_i < v_j, cs_ij *= v_i / v_j;
//   a_i = 1 - max_j cs_ij, clipped to [0, 1]; a /= max a; a = 1 becomes 0.99;
//   a_i = kappa (ln(a_i / (1 - a_i)) + 0.5), clipped to [0, 1];
//   aggregate = sum_i a_i x_i / sum_i a_i.
// Parameter kappa [1, the paper's confidence]. Departures: the paper uses the output layer's
// weights as features; fedguard keeps, per client id, a count sketch of the whole update
// (EngineConfig::sketch_dim, default 256; Charikar, Chen & Farach-Colton 2002: inner products
// unbiased, cosines within about 1/sqrt(sketch_dim), as a Johnson-Lindenstrauss projection's), so
// histories cost O(n sketch_dim) whatever d is and survive restarts (Engine::save_state). Clients
// with a_i = 0 are reported as rejected. Score: a_i (before normalisation).
#include <algorithm>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class FoolsGold final : public Rule {
 public:
  explicit FoolsGold(const RuleSpec& spec) {
    Params p(spec);
    kappa_ = p.number("kappa", 1.0, 0.0);
    p.finish();
  }
  std::string name() const override { return "foolsgold"; }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size(), q = round.sketch_dim;
    FEDGUARD_EXPECTS(n >= 2,
                     "foolsgold needs at least 2 clients, got n=" << n << " " << round.losses);
    // The engine passes the histories to a policy whose rules declare kSketch.
    FEDGUARD_EXPECTS(round.history != nullptr && q > 0,
                     "foolsgold: the engine passed no sketched histories");
    const std::vector<double>& h = *round.history;
    std::vector<double> norm(n, 0.0), cs(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double* a = h.data() + c.owner[i] * q;
      for (std::size_t t = 0; t < q; ++t) norm[i] += a[t] * a[t];
      norm[i] = std::sqrt(norm[i]);
    }
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = i + 1; j < n; ++j) {
        const double* a = h.data() + c.owner[i] * q;
        const double* b = h.data() + c.owner[j] * q;
        double dot = 0;
        for (std::size_t t = 0; t < q; ++t) dot += a[t] * b[t];
        const double v = norm[i] > 0 && norm[j] > 0 ? dot / (norm[i] * norm[j]) : 0.0;
        cs[i * n + j] = cs[j * n + i] = v;
      }
    std::vector<double> v(n, -1.0);
    std::vector<std::size_t> closest(n, 0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && cs[i * n + j] > v[i]) v[i] = cs[i * n + j], closest[i] = j;
    for (std::size_t i = 0; i < n; ++i)  // pardoning
      for (std::size_t j = 0; j < n; ++j)
        if (j != i && v[i] < v[j] && v[j] > 0) cs[i * n + j] *= v[i] / v[j];
    std::vector<double> a(n);
    double top = 0;
    for (std::size_t i = 0; i < n; ++i) {
      double m = -1.0;
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) m = std::max(m, cs[i * n + j]);
      a[i] = std::clamp(1.0 - m, 0.0, 1.0);
      top = std::max(top, a[i]);
    }
    FEDGUARD_EXPECTS(top > 0,
                     "foolsgold: every client's history is identical in direction to another's ("
                         << n << " clients) " << round.losses);
    double total = 0;
    for (double& x : a) {
      x /= top;
      if (x == 1.0) x = 0.99;
      x = x > 0 ? std::clamp(kappa_ * (std::log(x / (1 - x)) + 0.5), 0.0, 1.0) : 0.0;
      total += x;
    }
    FEDGUARD_EXPECTS(
        total > 0, "foolsgold: every client's weight is 0 (" << n << " clients) " << round.losses);
    AggregatePlan plan;
    plan.verdict = keep_all(n, "foolsgold");
    plan.verdict.score = a;
    plan.weights.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      plan.weights[i] = a[i] / total;
      if (a[i] == 0) {
        plan.verdict.keep[i] = 0;
        plan.verdict.reason[i] = "foolsgold: weight 0 (history cosine " + short_number(v[i]) +
                                 " with client at position " + std::to_string(closest[i]) +
                                 " of the round's candidates)";
      }
    }
    return plan;
  }

 private:
  double kappa_;
};

}  // namespace

std::unique_ptr<Rule> make_foolsgold(const RuleSpec& spec) {
  return std::make_unique<FoolsGold>(spec);
}

}  // namespace fedguard::rules
