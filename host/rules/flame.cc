// FLAME.
// Nguyen, Rieger, Chen, Yalame, Möllering, Fereidooni, Marchal, Miettinen, Mirhoseini,
// Zeitouni, Koushanfar, Sadeghi, Schneider, "FLAME: Taming Backdoors in Federated Learning",
// USENIX Security 2022.
//   1. Clustering: HDBSCAN (host/cluster/hdbscan.cc) over the pairwise cosine distances,
//      min_cluster_size = n/2 + 1, min_samples = 1, a single cluster allowed; the clients of the
//      largest cluster are accepted, the rest (other clusters and noise) rejected.
//   2. Adaptive clipping: e_i = ||W_i - G|| = ||x_i||, S = median of e_i over all n clients,
//      x_i <- x_i min(1, S / e_i).
//   3. Aggregate: the mean of the accepted clipped updates, plus N(0, (lambda S)^2) noise on every
//      coordinate [lambda = 0.001 for images, 0.01 for text in the paper].
// Parameters: lambda [0.001; 0 adds no noise], seed [0] (noise generator; mixed with the round
// index), min_cluster_size [n/2 + 1].
// Departure: the paper clusters the local models W_i = G + x_i. fedguard receives updates, so it
// clusters the updates x_i (as most public reimplementations do); the cosine of models is
// dominated by G when updates are small, which makes it a weaker signal, not a stronger one.
// As a filter, FLAME keeps the majority cluster and neither clips nor adds noise.
// Score: HDBSCAN's GLOSH outlier score of each client (0 = core of a cluster, towards 1 = outlier).
#include <algorithm>
#include <cmath>
#include <map>

#include "cluster/hdbscan.h"
#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

class Flame final : public Rule {
 public:
  explicit Flame(const RuleSpec& spec) {
    Params p(spec);
    lambda_ = p.number("lambda", 0.001, 0.0);
    seed_ = p.count("seed", 0, kMaxSeed);
    min_cluster_size_ = p.optional_count("min_cluster_size", kMaxClientCount);
    p.finish();
    FEDGUARD_EXPECTS(!min_cluster_size_ || *min_cluster_size_ >= 2,
                     "rule 'flame': min_cluster_size must be >= 2");
  }
  std::string name() const override { return "flame"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 2, "flame needs at least 2 clients, got n=" << n << " " << round.losses);
    const std::vector<double> g = c.inner_gram(round.space);
    std::vector<double> dist(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) {
        const double na = std::sqrt(g[a * n + a]), nb = std::sqrt(g[b * n + b]);
        const double cosine =
            na > 0 && nb > 0 ? std::clamp(g[a * n + b] / (na * nb), -1.0, 1.0) : 0.0;
        dist[a * n + b] = dist[b * n + a] = 1.0 - cosine;
      }
    cluster::HdbscanParams params = cluster::flame_hdbscan_params(n);
    if (min_cluster_size_) params.min_cluster_size = std::min(*min_cluster_size_, n);
    const cluster::HdbscanResult h = cluster::hdbscan(dist, n, params);

    // The largest cluster; ties to the cluster of the lowest-indexed client.
    std::map<int, std::size_t> sizes;
    for (int label : h.labels)
      if (label >= 0) ++sizes[label];
    int majority = -1;
    std::size_t best = 0;
    for (const auto& [label, size] : sizes)
      if (size > best) {
        best = size;
        majority = label;
      }
    Verdict v;
    v.score_name = "flame";
    v.score = h.outlier_scores;
    v.keep.assign(n, 0);
    v.reason.assign(n, "");
    for (std::size_t i = 0; i < n; ++i) {
      if (majority >= 0 && h.labels[i] == majority) {
        v.keep[i] = 1;
      } else {
        v.reason[i] = h.labels[i] < 0
                          ? "flame: noise point of the cosine clustering (outlier score " +
                                short_number(h.outlier_scores[i]) + ")"
                          : "flame: outside the majority cluster (cluster of " +
                                std::to_string(sizes[h.labels[i]]) + " vs " + std::to_string(best) +
                                ")";
      }
    }
    FEDGUARD_EXPECTS(majority >= 0, "flame: HDBSCAN found no cluster of at least "
                                        << params.min_cluster_size << " of the " << n << " clients "
                                        << round.losses);
    return v;
  }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    AggregatePlan plan;
    plan.verdict = select(round, c);
    const std::vector<double> e = candidate_norms(round, c);
    const double median = median_of(e);
    plan.weights = uniform_over_kept(plan.verdict.keep);
    for (std::size_t i = 0; i < n; ++i)
      if (e[i] > median) plan.weights[i] *= median / e[i];
    plan.noise_sigma = lambda_ * median;
    plan.noise_seed = seed_ * 0x9E3779B97F4A7C15ull + round.round_index;
    return plan;
  }

 private:
  double lambda_;
  std::size_t seed_;
  std::optional<std::size_t> min_cluster_size_;
};

}  // namespace

std::unique_ptr<Rule> make_flame(const RuleSpec& spec) { return std::make_unique<Flame>(spec); }

}  // namespace fedguard::rules
