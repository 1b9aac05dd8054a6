// Bulyan.
// El Mhamdi, Guerraoui, Rouault, "The Hidden Vulnerability of Distributed Learning in
// Byzantium", ICML 2018. Parameter f; needs n >= 4f + 3.
//   1. Selection: theta = n - 2f candidates, by repeating Krum on the remaining set (scores
//      recomputed each time with the same f; each step removes the lowest score, ties to the
//      lower index). As the set shrinks below 2f + 3 the neighbour count |R| - f - 2 reaches f - 1
//      and, for f = 0, zero; we clamp it at zero.
//   2. Aggregation: per coordinate, the mean of the beta = theta - 2f selected values closest
//      to that coordinate's median of the selected set (ties in distance go to the smaller
//      value). One public implementation sets beta = n - 2f and never trims: not this one.
// As a filter, Bulyan keeps the theta selected candidates.
#include <numeric>

#include "fedguard/error.h"
#include "rules/format.h"
#include "rules/krum.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Bulyan final : public Rule {
 public:
  explicit Bulyan(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt);
    p.finish();
  }
  std::string name() const override { return "bulyan"; }
  bool can_filter() const override { return true; }
  bool can_aggregate() const override { return true; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 4 * f_ + 3, "bulyan with f=" << f_ << " needs n >= 4f+3 = " << 4 * f_ + 3
                                                      << " clients, got n=" << n << " " << round.losses);
    const std::size_t theta = n - 2 * f_;
    const std::vector<double> dist = c.squared_distances(round.space);
    std::vector<std::size_t> remaining(n);
    std::iota(remaining.begin(), remaining.end(), 0);
    Verdict v;
    v.score_name = "bulyan";
    v.keep.assign(n, 0);
    v.reason.assign(n, "");
    v.score = krum_scores(dist, n, remaining, f_);  // reported score: Krum's on the full set
    for (std::size_t step = 0; step < theta; ++step) {
      const std::vector<double> s = krum_scores(dist, n, remaining, f_);
      const std::size_t best = rank_ascending(s)[0];
      v.keep[remaining[best]] = 1;
      remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(best));
    }
    for (std::size_t p : remaining)
      v.reason[p] = "bulyan: not among the theta=" + std::to_string(theta) +
                    " selected by repeated Krum (Krum score " + fmt(v.score[p]) + ")";
    return v;
  }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    AggregatePlan plan;
    plan.verdict = select(round, c);
    plan.linear = false;
    plan.statistic = backend::ColumnStatistic::kBulyanMean;
    plan.param = c.size() - 4 * f_;  // beta = theta - 2f
    return plan;
  }

 private:
  std::size_t f_;
};

}  // namespace

std::unique_ptr<Rule> make_bulyan(const RuleSpec& spec) { return std::make_unique<Bulyan>(spec); }

}  // namespace fedguard::rules
