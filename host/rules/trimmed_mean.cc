// Coordinate-wise trimmed mean.
// Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
// Statistical Rates", ICML 2018. Parameter `trim` = b [paper: b = f, or ceil(beta n)]: per
// coordinate drop the b largest and b smallest values and average the rest; needs n > 2b.
// Unweighted, as in the paper.
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class TrimmedMean final : public Rule {
 public:
  explicit TrimmedMean(const RuleSpec& spec) {
    Params p(spec);
    trim_ = p.count("trim", std::nullopt, kMaxClientCount);
    p.finish();
  }
  std::string name() const override { return "trimmed_mean"; }
  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    FEDGUARD_EXPECTS(c.size() > 2 * trim_,
                     "trimmed_mean with trim b=" << trim_ << " needs n > 2b = " << 2 * trim_
                                                 << " clients, got n=" << c.size() << " "
                                                 << round.losses);
    AggregatePlan plan;
    plan.verdict = keep_all(c.size(), "");
    plan.linear = false;
    plan.statistic = backend::ColumnStatistic::kTrimmedMean;
    plan.param = trim_;
    return plan;
  }
  std::optional<StatisticForecast> forecast_statistic(std::size_t candidates) const override {
    if (candidates <= 2 * trim_) return std::nullopt;
    return StatisticForecast{backend::ColumnStatistic::kTrimmedMean, trim_};
  }

 private:
  std::size_t trim_;
};

}  // namespace

std::unique_ptr<Rule> make_trimmed_mean(const RuleSpec& spec) {
  return std::make_unique<TrimmedMean>(spec);
}

}  // namespace fedguard::rules
