// FedAvg: the sample-weighted mean.
// McMahan et al., "Communication-Efficient Learning of Deep Networks from Decentralized Data",
// AISTATS 2017. Weights are the clients' num_samples when the round gives them, else uniform.
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Mean final : public Rule {
 public:
  explicit Mean(const RuleSpec& spec) { Params(spec).finish(); }
  std::string name() const override { return "mean"; }
  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    FEDGUARD_EXPECTS(c.size() >= 1, "mean needs at least 1 client, got 0 " << round.losses);
    AggregatePlan plan;
    plan.verdict = keep_all(c.size(), "");
    plan.weights = candidate_weights(round, c);
    return plan;
  }
};

}  // namespace

std::unique_ptr<Rule> make_mean(const RuleSpec& spec) { return std::make_unique<Mean>(spec); }

}  // namespace fedguard::rules
