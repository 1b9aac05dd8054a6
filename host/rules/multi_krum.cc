// Multi-Krum.
// Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine
// Tolerant Gradient Descent", NeurIPS 2017. Parameters f and m [m = n - f]. Krum scores are
// computed once on all n candidates (see krum.cc), the m lowest are selected (ties to the lower
// index) and averaged uniformly, as in the paper. Needs n > 2f + 2 and 1 <= m <= n.
#include <numeric>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/krum.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class MultiKrum final : public Rule {
 public:
  explicit MultiKrum(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    m_ = p.optional_count("m", kMaxClientCount);
    p.finish();
    FEDGUARD_EXPECTS(!m_ || *m_ >= 1, "multi_krum: m must be >= 1");
  }
  std::string name() const override { return "multi_krum"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n > 2 * f_ + 2,
                     "multi_krum with f=" << f_ << " needs n > 2f+2 = " << 2 * f_ + 2
                                          << " clients, got n=" << n << " " << round.losses);
    const std::size_t m = m_ ? *m_ : n - f_;
    FEDGUARD_EXPECTS(m <= n, "multi_krum with m=" << m << " needs at least m clients, got n=" << n
                                                  << " " << round.losses);
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    Verdict v;
    v.score_name = "multi_krum";
    v.score = krum_scores(c.squared_distances(round.space), n, all, f_, round.threads);
    const std::vector<std::size_t> order = rank_ascending(v.score, m);
    v.keep.assign(n, 0);
    v.reason.assign(n, "");
    for (std::size_t rank = 0; rank < n; ++rank) {
      const std::size_t p = order[rank];
      if (rank < m) {
        v.keep[p] = 1;
      } else {
        v.reason[p] = "multi_krum: not among the m=" + std::to_string(m) +
                      " lowest scores (score " + short_number(v.score[p]) + ", rank " +
                      std::to_string(rank + 1) + " of " + std::to_string(n) + ")";
      }
    }
    return v;
  }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    AggregatePlan plan;
    plan.verdict = select(round, c);
    plan.weights = uniform_over_kept(plan.verdict.keep);
    return plan;
  }

 private:
  std::size_t f_;
  std::optional<std::size_t> m_;
};

}  // namespace

std::unique_ptr<Rule> make_multi_krum(const RuleSpec& spec) {
  return std::make_unique<MultiKrum>(spec);
}

}  // namespace fedguard::rules
