// Coordinate-wise median.
// Yin, Chen, Ramchandran, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal
// Statistical Rates", ICML 2018. Per coordinate, the median of the candidates' values; an even
// count averages the two middle values. Unweighted (num_samples is ignored, as in the paper).
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Median final : public Rule {
 public:
  explicit Median(const RuleSpec& spec) { Params(spec).finish(); }
  std::string name() const override { return "median"; }
  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    FEDGUARD_EXPECTS(c.size() >= 1, "median needs at least 1 client, got 0 " << round.losses);
    AggregatePlan plan;
    plan.verdict = keep_all(c.size(), "");
    plan.linear = false;
    plan.statistic = backend::ColumnStatistic::kMedian;
    return plan;
  }
  std::optional<StatisticForecast> forecast_statistic(std::size_t candidates) const override {
    if (candidates < 1) return std::nullopt;
    return StatisticForecast{backend::ColumnStatistic::kMedian, 0};
  }
};

}  // namespace

std::unique_ptr<Rule> make_median(const RuleSpec& spec) { return std::make_unique<Median>(spec); }

}  // namespace fedguard::rules
