// NNM: nearest-neighbour mixing.
// Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan, "Fixing by Mixing: A Recipe for
// Optimal Byzantine ML under Heterogeneity", AISTATS 2023. Parameter f. Each candidate is
// replaced by the mean of its n - f nearest neighbours, itself included (itself first, then
// the others by distance, ties to the lower index). A transform: the mixing matrix is applied
// in Gram space, and to the updates only in pass 2. Score: mean distance to the neighbours.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Nnm final : public Rule {
 public:
  explicit Nnm(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    p.finish();
  }
  std::string name() const override { return "nnm"; }

  TransformResult transform(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(
        n > f_, "nnm with f=" << f_ << " needs n > f clients, got n=" << n << " " << round.losses);
    const std::size_t keep = n - f_;
    const std::vector<double> dist = c.squared_distances(round.space);
    TransformResult t;
    t.matrix.assign(n * n, 0.0);
    t.score_name = "nnm";
    t.score.assign(n, 0.0);
    std::vector<std::size_t> others;
    for (std::size_t i = 0; i < n; ++i) {
      others.clear();
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) others.push_back(j);
      std::stable_sort(others.begin(), others.end(), [&](std::size_t a, std::size_t b) {
        return dist[i * n + a] < dist[i * n + b];
      });
      const double w = 1.0 / static_cast<double>(keep);
      t.matrix[i * n + i] = w;
      double spread = 0;
      for (std::size_t q = 0; q + 1 < keep; ++q) {
        t.matrix[i * n + others[q]] = w;
        spread += std::sqrt(dist[i * n + others[q]]);
      }
      t.score[i] = spread / static_cast<double>(keep);
    }
    return t;
  }

 private:
  std::size_t f_;
};

}  // namespace

std::unique_ptr<Rule> make_nnm(const RuleSpec& spec) { return std::make_unique<Nnm>(spec); }

}  // namespace fedguard::rules
