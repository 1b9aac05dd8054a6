// ARC: adaptive robust clipping.
// Allouah, Guerraoui, Gupta, Pinot, Rizk, "Adaptive Gradient Clipping for Robust Federated
// Learning", ICLR 2025. Parameter f. k = floor(2 (f/n) (n - f)); the k largest-norm updates are
// clipped to the norm of the (k+1)-th largest. Ties in norm are ordered by index (the lower
// index counts as larger). A transform (diagonal map); score: the factor applied.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Arc final : public Rule {
 public:
  explicit Arc(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    p.finish();
  }
  std::string name() const override { return "arc"; }

  TransformResult transform(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(
        n > f_, "arc with f=" << f_ << " needs n > f clients, got n=" << n << " " << round.losses);
    const std::vector<double> norms_sq = c.norms_sq(round.space);
    const std::size_t k =
        2 * f_ * (n - f_) / n;  // integer floor: floating point can land just below
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return norms_sq[a] > norms_sq[b]; });
    TransformResult t;
    t.matrix.assign(n * n, 0.0);
    t.score_name = "arc";
    t.score.assign(n, 1.0);
    for (std::size_t i = 0; i < n; ++i) t.matrix[i * n + i] = 1.0;
    if (k > 0 && k < n) {
      const double bound = std::sqrt(norms_sq[order[k]]);
      for (std::size_t rank = 0; rank < k; ++rank) {
        const std::size_t i = order[rank];
        const double norm = std::sqrt(norms_sq[i]);
        const double s = norm > bound ? bound / norm : 1.0;
        t.matrix[i * n + i] = s;
        t.score[i] = s;
      }
    }
    return t;
  }

 private:
  std::size_t f_;
};

}  // namespace

std::unique_ptr<Rule> make_arc(const RuleSpec& spec) { return std::make_unique<Arc>(spec); }

}  // namespace fedguard::rules
