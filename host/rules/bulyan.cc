// Bulyan.
// El Mhamdi, Guerraoui, Rouault, "The Hidden Vulnerability of Distributed Learning in
// Byzantium", ICML 2018. Parameter f; needs n >= 4f + 3.
//   1. Selection: theta = n - 2f candidates, by repeating Krum on the remaining set R (scores
//      recomputed each time with the same f; each step takes the lowest score, ties to the
//      lower index). Departure: once |R| <= 2f + 2 Krum is undefined, and |R| - f - 2 falls to
//      zero or below at the last steps, where every score would be 0 and the choice would fall
//      to index order (an outlier at index 0 would be selected). We keep at least one neighbour
//      (max(1, |R| - f - 2)), so every step stays a distance-based choice.
//   2. Aggregation: per coordinate, the mean of the beta = theta - 2f selected values closest
//      to that coordinate's median of the selected set (ties in distance go to the smaller
//      value). One public implementation sets beta = n - 2f and never trims: not this one.
// As a filter, Bulyan keeps the theta selected candidates.
#include <algorithm>
#include <cstdint>
#include <numeric>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/krum.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

// Repeated Krum in O(n^2 log n) instead of O(n^3 log n): each row's neighbours are sorted once
// by (distance, index); a row's score is the sum over the first `nb` entries of its sorted list
// that are still in R. After removing client j and moving to the next neighbour count, that
// prefix either loses j (if j was in it) or gains / loses entries at its end.
std::vector<std::size_t> repeated_krum(const std::vector<double>& dist, std::size_t n,
                                       std::size_t f, std::size_t theta) {
  auto neighbours = [f](std::size_t r) -> std::size_t {
    if (r <= 1) return 0;
    return std::min(r - 1, std::max<std::size_t>(1, r > f + 2 ? r - f - 2 : 0));
  };
  std::vector<std::uint32_t> order(n * (n - 1));
  std::vector<std::size_t> end(n), count(n);
  std::vector<double> score(n, 0.0);
  std::vector<std::uint8_t> removed(n, 0);
  const std::size_t nb0 = neighbours(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t* row = order.data() + i * (n - 1);
    std::size_t q = 0;
    for (std::size_t j = 0; j < n; ++j)
      if (j != i) row[q++] = static_cast<std::uint32_t>(j);
    const double* d = dist.data() + i * n;
    std::sort(row, row + (n - 1),
              [d](std::uint32_t a, std::uint32_t b) { return d[a] != d[b] ? d[a] < d[b] : a < b; });
    for (std::size_t e = 0; e < nb0; ++e) score[i] += d[row[e]];
    end[i] = count[i] = nb0;
  }
  std::vector<std::size_t> selected;
  std::size_t remaining = n;
  while (selected.size() < theta) {
    std::size_t best = n;
    for (std::size_t i = 0; i < n; ++i)
      if (!removed[i] && (best == n || score[i] < score[best])) best = i;
    for (std::size_t i = 0; i < best; ++i)  // the lowest index tied with the minimum
      if (!removed[i] && scores_tied(score[i], score[best])) {
        best = i;
        break;
      }
    selected.push_back(best);
    removed[best] = 1;
    --remaining;
    const std::size_t nb = neighbours(remaining);
    for (std::size_t i = 0; i < n; ++i) {
      if (removed[i]) continue;
      const std::uint32_t* row = order.data() + i * (n - 1);
      const double* d = dist.data() + i * n;
      // Is `best` inside the prefix [0, end)? Compare its key with the prefix's last entry.
      if (end[i] > 0) {
        const std::uint32_t last = row[end[i] - 1];
        const bool inside = d[best] < d[last] || (d[best] == d[last] && best <= last);
        if (inside) {
          score[i] -= d[best];
          --count[i];
        }
      }
      while (count[i] > nb) {  // drop live entries from the end
        const std::uint32_t e = row[--end[i]];
        if (!removed[e]) {
          score[i] -= d[e];
          --count[i];
        }
      }
      while (count[i] < nb) {  // take the next live entries
        const std::uint32_t e = row[end[i]++];
        if (!removed[e]) {
          score[i] += d[e];
          ++count[i];
        }
      }
    }
  }
  return selected;
}

class Bulyan final : public Rule {
 public:
  explicit Bulyan(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    p.finish();
  }
  std::string name() const override { return "bulyan"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 4 * f_ + 3, "bulyan with f=" << f_ << " needs n >= 4f+3 = " << 4 * f_ + 3
                                                       << " clients, got n=" << n << " "
                                                       << round.losses);
    const std::size_t theta = n - 2 * f_;
    const std::vector<double> dist = c.squared_distances(round.space);
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    Verdict v;
    v.score_name = "bulyan";
    v.keep.assign(n, 0);
    v.reason.assign(n, "");
    v.score =
        krum_scores(dist, n, all, f_, round.threads);  // reported score: Krum's on the full set
    for (std::size_t p : repeated_krum(dist, n, f_, theta)) v.keep[p] = 1;
    for (std::size_t p = 0; p < n; ++p)
      if (!v.keep[p])
        v.reason[p] = "bulyan: not among the theta=" + std::to_string(theta) +
                      " selected by repeated Krum (Krum score " + short_number(v.score[p]) + ")";
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
