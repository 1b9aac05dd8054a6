// Norm bounds: reject updates whose L2 norm is outside [lower, upper].
// Absolute bounds (min_norm, max_norm) and bounds relative to the median norm (min_ratio,
// max_ratio), as in SignGuard's norm filter (Xu et al., ICDCS 2022: 0.1 M <= ||x|| <= 3 M, M the
// median norm). At least one bound must be given. A filter.
#include <algorithm>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class NormBound final : public Rule {
 public:
  explicit NormBound(const RuleSpec& spec) {
    Params p(spec);
    min_norm_ = p.optional_number("min_norm", 0.0);
    max_norm_ = p.optional_number("max_norm", 0.0);
    min_ratio_ = p.optional_number("min_ratio", 0.0);
    max_ratio_ = p.optional_number("max_ratio", 0.0);
    p.finish();
    FEDGUARD_EXPECTS(min_norm_ || max_norm_ || min_ratio_ || max_ratio_,
                     "norm_bound needs at least one of min_norm, max_norm, min_ratio, max_ratio");
  }
  std::string name() const override { return "norm_bound"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "norm_bound needs at least 1 client, got 0 " << round.losses);
    const std::vector<double> norms = candidate_norms(round, c);
    const double median = median_of(norms);

    Verdict v;
    v.score_name = "norm_bound";
    v.score = norms;
    v.keep.assign(n, 1);
    v.reason.assign(n, "");
    for (std::size_t i = 0; i < n; ++i) {
      const double x = norms[i];
      std::string why;
      if (max_norm_ && x > *max_norm_)
        why = "norm " + short_number(x) + " above max_norm " + short_number(*max_norm_);
      else if (min_norm_ && x < *min_norm_)
        why = "norm " + short_number(x) + " below min_norm " + short_number(*min_norm_);
      else if (max_ratio_ && x > *max_ratio_ * median)
        why = "norm " + short_number(x) + " above " + short_number(*max_ratio_) +
              " x median norm " + short_number(median);
      else if (min_ratio_ && x < *min_ratio_ * median)
        why = "norm " + short_number(x) + " below " + short_number(*min_ratio_) +
              " x median norm " + short_number(median);
      if (!why.empty()) {
        v.keep[i] = 0;
        v.reason[i] = "norm_bound: " + why;
      }
    }
    return v;
  }

 private:
  std::optional<double> min_norm_, max_norm_, min_ratio_, max_ratio_;
};

}  // namespace

std::unique_ptr<Rule> make_norm_bound(const RuleSpec& spec) {
  return std::make_unique<NormBound>(spec);
}

}  // namespace fedguard::rules
