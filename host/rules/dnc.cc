// DnC: Divide-and-Conquer.
// Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
// Defenses for Federated Learning", NDSS 2021. Parameters: f (assumed malicious), c [1.0]
// (filtering fraction: remove floor(c f) per iteration), subset_size [0 = exact], niters [1
// exact, 5 subset], seed [0].
//   Paper's variant (subset_size = b [10000]): niters times, sample b coordinates at random,
//   centre the updates restricted to them, take the top right singular vector v, score
//   s_i = <x_i - mean, v>^2, keep the n - floor(c f) lowest; accepted = intersection.
//   Exact variant (subset_size 0): all coordinates, one iteration. Its scores come without
//   touching d again: with K the Gram matrix re-centred on the candidates' mean and (l, u) its
//   top eigenpair, <x_i - mean, v>^2 = l u_i^2.
// Subsets are drawn per round from (seed, round index) and their Gram matrices accumulated in
// pass 1, so the subset variant reads each update once too. The output as aggregator is the
// uniform mean of the accepted clients, as in the paper. Score: s_i (mean over iterations).
#include <algorithm>
#include <cmath>
#include <random>
#include <unordered_set>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "geometry/spectral.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Dnc final : public Rule {
 public:
  explicit Dnc(const RuleSpec& spec) {
    Params p(spec);
    f_ = p.count("f", std::nullopt, kMaxClientCount);
    c_ = p.number("c", 1.0, 0.0);
    subset_size_ = p.count("subset_size", 0, kMaxClientCount);
    niters_ = p.count("niters", subset_size_ ? 5 : 1, kMaxIterations);
    seed_ = p.count("seed", 0, kMaxSeed);
    p.finish();
    FEDGUARD_EXPECTS(niters_ >= 1, "rule 'dnc': niters must be >= 1");
    FEDGUARD_EXPECTS(
        subset_size_ > 0 || niters_ == 1,
        "rule 'dnc': the exact variant (subset_size 0) is deterministic; niters must be 1");
  }
  std::string name() const override { return "dnc"; }

  std::vector<std::vector<std::size_t>> column_subsets(std::size_t d,
                                                       std::uint64_t round_index) const override {
    std::vector<std::vector<std::size_t>> out;
    if (subset_size_ == 0) return out;
    const std::size_t b = std::min(subset_size_, d);
    for (std::size_t t = 0; t < niters_; ++t) {
      // Floyd's sampling: b distinct columns of d in O(b), whatever d is.
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + round_index * 0xBF58476D1CE4E5B9ull + t);
      std::unordered_set<std::size_t> chosen;
      for (std::size_t j = d - b; j < d; ++j) {
        const std::size_t r = std::uniform_int_distribution<std::size_t>(0, j)(rng);
        if (!chosen.insert(r).second) chosen.insert(j);
      }
      out.emplace_back(chosen.begin(), chosen.end());
      std::sort(out.back().begin(), out.back().end());
    }
    return out;
  }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    const auto removed = static_cast<std::size_t>(std::floor(c_ * static_cast<double>(f_)));
    FEDGUARD_EXPECTS(n > removed && n >= 2,
                     "dnc with f=" << f_ << ", c=" << c_ << " removes " << removed
                                   << " clients and needs n > " << std::max<std::size_t>(removed, 1)
                                   << ", got n=" << n << " " << round.losses);
    FEDGUARD_EXPECTS(
        subset_size_ == 0 || c.plain(),
        "dnc's random-coordinate variant reads the updates' own coordinates: use it as a filter "
        "or before any transform");
    Verdict v;
    v.score_name = "dnc";
    v.score.assign(n, 0.0);
    v.keep.assign(n, 1);
    v.reason.assign(n, "");
    for (std::size_t t = 0; t < niters_; ++t) {
      const std::vector<double> k =
          subset_size_ ? round.space.subset_gram_of_rows(round.subset_offset + t, c.owner)
                       : c.centred_gram(round.space);
      const geometry::EigenPairs top =
          geometry::top_eigenpairs(geometry::double_centred(k, n), n, 1);
      std::vector<double> s(n);
      for (std::size_t i = 0; i < n; ++i)
        s[i] = std::max(0.0, top.values[0]) * top.vectors[i] * top.vectors[i];
      std::vector<std::size_t> order(n);
      for (std::size_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return s[a] < s[b]; });
      for (std::size_t rank = n - removed; rank < n; ++rank) {
        const std::size_t i = order[rank];
        if (v.keep[i])
          v.reason[i] = "dnc: outlier score " + short_number(s[i]) + " among the " +
                        std::to_string(removed) + " highest" +
                        (niters_ > 1 ? " in iteration " + std::to_string(t + 1) : "");
        v.keep[i] = 0;
      }
      for (std::size_t i = 0; i < n; ++i) v.score[i] += s[i] / static_cast<double>(niters_);
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
  double c_;
  std::size_t subset_size_, niters_, seed_;
};

}  // namespace

std::unique_ptr<Rule> make_dnc(const RuleSpec& spec) { return std::make_unique<Dnc>(spec); }

}  // namespace fedguard::rules
