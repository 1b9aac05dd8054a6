// Krum.
// Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine
// Tolerant Gradient Descent", NeurIPS 2017. Parameter f (assumed Byzantine clients), needs
// n > 2f + 2. score_i = sum of ||x_i - x_j||^2 over the n - f - 2 nearest j != i (the
// self-distance is not counted, and distances are squared once: pitfalls of some public
// implementations). Krum returns the update of lowest score; ties (scores equal within 1e-6
// relative, see krum.h) go to the lower index.
// As a filter it keeps that one client.
#include "rules/krum.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "common/median.h"
#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {

std::vector<double> krum_scores(const std::vector<double>& dist, std::size_t m,
                                const std::vector<std::size_t>& active, std::size_t f,
                                int threads) {
  const std::size_t n = active.size();
  const std::size_t neighbours = n > f + 2 ? n - f - 2 : 0;
  std::vector<double> scores(n, 0.0);
  if (neighbours == 0) return scores;
  const auto rows = static_cast<std::ptrdiff_t>(n);
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_max_threads()) if (n >= 128)
  {
    std::vector<double> row;
    row.reserve(n);
#pragma omp for schedule(static)
    for (std::ptrdiff_t r = 0; r < rows; ++r) {
      const auto a = static_cast<std::size_t>(r);
      const double* da = dist.data() + active[a] * m;
      row.clear();
      for (std::size_t b = 0; b < n; ++b)
        if (b != a) row.push_back(da[active[b]]);
      // The neighbours' largest distance: the values below it are in, and it fills the rest.
      select_in_place(row.data(), row.size(), neighbours - 1);
      const double edge = row[neighbours - 1];
      double below = 0;
      std::size_t count = 0;
      for (std::size_t b = 0; b < n; ++b) {
        const double x = da[active[b]];
        if (b != a && x < edge) {
          below += x;
          ++count;
        }
      }
      scores[a] = below + static_cast<double>(neighbours - count) * edge;
    }
  }
  return scores;
}

bool scores_tied(double a, double b) {
  return std::abs(a - b) <= kScoreTieTolerance * std::max(std::abs(a), std::abs(b));
}

std::vector<std::size_t> rank_ascending(const std::vector<double>& scores, std::size_t m) {
  const std::size_t n = scores.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  if (m == 0 || m > n) return order;
  // Everything clearly below the m-th score is in; the group tied with it fills the rest of
  // the m places in index order.
  const double boundary = scores[order[m - 1]];
  std::vector<std::size_t> in, tied, out;
  for (std::size_t p : order) {
    if (scores_tied(scores[p], boundary))
      tied.push_back(p);
    else if (scores[p] < boundary)
      in.push_back(p);
  }
  std::sort(tied.begin(), tied.end());
  const std::size_t from_tied = m - in.size();
  in.insert(in.end(), tied.begin(), tied.begin() + static_cast<std::ptrdiff_t>(from_tied));
  std::sort(in.begin(), in.end());
  std::vector<std::uint8_t> chosen(n, 0);
  for (std::size_t p : in) chosen[p] = 1;
  out = in;
  for (std::size_t p : order)
    if (!chosen[p]) out.push_back(p);
  return out;
}

namespace {

class Krum final : public Rule {
 public:
  explicit Krum(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    p.finish();
  }
  std::string name() const override { return "krum"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n > 2 * f_ + 2, "krum with f=" << f_ << " needs n > 2f+2 = " << 2 * f_ + 2
                                                    << " clients, got n=" << n << " "
                                                    << round.losses);
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    Verdict v;
    v.score_name = "krum";
    v.score = krum_scores(c.squared_distances(round.space), n, all, f_, round.threads);
    const std::vector<std::size_t> order = rank_ascending(v.score, 1);
    v.keep.assign(n, 0);
    v.keep[order[0]] = 1;
    v.reason.assign(n, "");
    for (std::size_t rank = 1; rank < n; ++rank)
      v.reason[order[rank]] = "krum: not selected (score " + short_number(v.score[order[rank]]) +
                              ", rank " + std::to_string(rank + 1) + " of " + std::to_string(n) +
                              ")";
    return v;
  }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    AggregatePlan plan;
    plan.verdict = select(round, c);
    plan.weights.assign(c.size(), 0.0);
    for (std::size_t p = 0; p < c.size(); ++p) plan.weights[p] = plan.verdict.keep[p] ? 1.0 : 0.0;
    return plan;
  }

 private:
  std::size_t f_;
};

}  // namespace

std::unique_ptr<Rule> make_krum(const RuleSpec& spec) { return std::make_unique<Krum>(spec); }

}  // namespace fedguard::rules
