// FLTrust.
// Cao, Fang, Liu, Gong, "FLTrust: Byzantine-robust Federated Learning via Trust
// Bootstrapping", NDSS 2021. The server computes a reference update g0 on a small clean root
// dataset [100 samples in the paper] and passes it with the round (RoundInput::reference,
// `fedguard round --reference`). Trust score TS_i = ReLU(cos(x_i, g0)); each update is
// rescaled to ||g0||; the aggregate is sum_i TS_i (||g0|| / ||x_i||) x_i / sum_i TS_i.
// No parameters. Clients with TS_i = 0 are reported as rejected (they carry no weight).
// Score: the cosine with the reference. Cost: O(n) on pass 1's reference products.
#include <algorithm>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class FlTrust final : public Rule {
 public:
  explicit FlTrust(const RuleSpec& spec) { Params(spec).finish(); }
  std::string name() const override { return "fltrust"; }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "fltrust needs at least 1 client, got 0 " << round.losses);
    // The engine passes the reference to a policy whose rules declare kServerReference.
    FEDGUARD_EXPECTS(round.server_reference.has_value(),
                     "fltrust: the engine passed no server reference");
    const std::size_t ref = *round.server_reference;
    const double ref_norm = std::sqrt(round.space.reference_norm_sq(ref));
    // A NaN or Inf in the reference makes its norm non-finite: say so (before this check, a NaN
    // reference was reported as "all zeros" and an Inf one as "no client has a positive cosine").
    FEDGUARD_EXPECTS(
        std::isfinite(ref_norm),
        "fltrust: the server's reference update holds NaN or Inf values (norm " << ref_norm << ")");
    FEDGUARD_EXPECTS(ref_norm > 0, "fltrust: the server's reference update is all zeros");
    const std::vector<double> dots = round.space.dots_with_reference(c.raw(round.space), n, ref);
    const std::vector<double> norms_sq = c.norms_sq(round.space);

    AggregatePlan plan;
    plan.verdict = keep_all(n, "fltrust");
    plan.weights.assign(n, 0.0);
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double norm = std::sqrt(norms_sq[i]);
      const double cosine = norm > 0 ? std::clamp(dots[i] / (norm * ref_norm), -1.0, 1.0) : 0.0;
      plan.verdict.score[i] = cosine;
      if (cosine > 0) {
        plan.weights[i] = cosine * ref_norm / norm;
        total += cosine;
      } else {
        plan.verdict.keep[i] = 0;
        plan.verdict.reason[i] =
            "fltrust: cosine with the server reference " + short_number(cosine) + " <= 0";
      }
    }
    FEDGUARD_EXPECTS(total > 0,
                     "fltrust: no client has a positive cosine with the server's reference update "
                         << "(" << n << " clients) " << round.losses);
    for (double& w : plan.weights) w /= total;
    return plan;
  }
};

}  // namespace

std::unique_ptr<Rule> make_fltrust(const RuleSpec& spec) { return std::make_unique<FlTrust>(spec); }

}  // namespace fedguard::rules
