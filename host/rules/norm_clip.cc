// Norm clipping: y_i = x_i min(1, max_norm / ||x_i||).
// The fixed-threshold clipping of differentially private and robust FL, e.g. Sun, Kairouz,
// Suresh, McMahan, "Can You Really Backdoor Federated Learning?", NeurIPS FL workshop 2019.
// Parameter max_norm (required). A transform: a diagonal linear map of the candidates, so it
// composes with every later rule without copying any update. Score: the factor applied.
#include <cmath>

#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class NormClip final : public Rule {
 public:
  explicit NormClip(const RuleSpec& spec) {
    Params p(spec);
    max_norm_ = p.number("max_norm", std::nullopt, 0.0);
    p.finish();
  }
  std::string name() const override { return "norm_clip"; }

  TransformResult transform(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    const std::vector<double> norms_sq = c.norms_sq(round.space);
    TransformResult t;
    t.matrix.assign(n * n, 0.0);
    t.score_name = "norm_clip";
    t.score.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double norm = std::sqrt(norms_sq[i]);
      const double s = norm > max_norm_ ? max_norm_ / norm : 1.0;
      t.matrix[i * n + i] = s;
      t.score[i] = s;
    }
    return t;
  }

 private:
  double max_norm_;
};

}  // namespace

std::unique_ptr<Rule> make_norm_clip(const RuleSpec& spec) {
  return std::make_unique<NormClip>(spec);
}

}  // namespace fedguard::rules
