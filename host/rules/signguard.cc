// SignGuard.
// Xu, Huang, Cai, Zheng, Cao, Zhang, "SignGuard: Byzantine-robust Federated Learning through
// Collaborative Malicious Gradient Filtering", ICDCS 2022.
//   1. Norm filter: with M the median norm, keep lower M <= ||x_i|| <= upper M [0.1, 3.0].
//   2. Sign clustering: features (fraction of positive, zero and negative coordinates) clustered
//      by MeanShift (flat kernel); the largest cluster is kept.
//   3. Accepted = both; as the aggregator, the accepted updates are clipped to M and averaged.
// Parameters: lower [0.1], upper [3.0], bandwidth [0 = estimated: the mean distance of each
// client to its floor(0.3 n)-th nearest neighbour in feature space, as scikit-learn's
// estimate_bandwidth(quantile=0.3); floored at 1e-6].
// Departures: the paper computes the sign fractions on a random 10% of the coordinates; pass 1
// counts signs on all coordinates at no extra cost, so we use them all (a strictly less noisy
// feature). Modes follow scikit-learn's MeanShift (ranked by the points within the bandwidth,
// near-duplicates dropped, every client joins its nearest mode, cluster_all); ties go to the
// lower-indexed seed. Like the paper's MeanShift with an estimated bandwidth, it can split a
// round of benign clients whose sign fractions differ only by sampling noise: pass a larger
// `bandwidth` to prevent that. Sign features come from the
// clients' own updates, so signguard must run as a filter or before any transform.
// Score: distance of the client's sign features to the kept cluster's mode.
#include <algorithm>
#include <array>
#include <cmath>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace {

using Feature = std::array<double, 3>;

double distance(const Feature& a, const Feature& b) {
  double s = 0;
  for (int i = 0; i < 3; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(s);
}

class SignGuard final : public Rule {
 public:
  explicit SignGuard(const RuleSpec& spec) {
    Params p(spec);
    lower_ = p.number("lower", 0.1, 0.0);
    upper_ = p.number("upper", 3.0, 0.0);
    bandwidth_ = p.number("bandwidth", 0.0, 0.0);
    p.finish();
    FEDGUARD_EXPECTS(lower_ <= upper_,
                     "rule 'signguard': lower " << lower_ << " exceeds upper " << upper_);
  }
  std::string name() const override { return "signguard"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(n >= 1, "signguard needs at least 1 client, got 0 " << round.losses);
    FEDGUARD_EXPECTS(c.plain(),
                     "signguard reads the clients' own sign statistics: use it as a filter or "
                     "before any transform");
    const std::vector<double> norms = candidate_norms(round, c);
    const double median = median_of(norms);
    std::vector<Feature> f(n);
    for (std::size_t i = 0; i < n; ++i) f[i] = round.space.sign_fractions(c.owner[i]);

    const double h = bandwidth_ > 0 ? bandwidth_ : estimate_bandwidth(f);
    // MeanShift from every point, as scikit-learn's MeanShift(bandwidth=h): converged modes are
    // ranked by how many points lie within h (ties: lower seed), and a mode within h of a
    // better-ranked one is dropped.
    std::vector<Feature> converged;
    std::vector<std::size_t> intensity;
    for (std::size_t s = 0; s < n; ++s) {
      Feature m = f[s];
      for (int it = 0; it < 300; ++it) {
        Feature next{0, 0, 0};
        std::size_t count = 0;
        for (const Feature& x : f)
          if (distance(x, m) <= h) {
            for (int q = 0; q < 3; ++q) next[q] += x[q];
            ++count;
          }
        for (int q = 0; q < 3; ++q) next[q] /= static_cast<double>(count);
        const double moved = distance(next, m);
        m = next;
        if (moved <= 1e-3 * h) break;
      }
      std::size_t within = 0;
      for (const Feature& x : f) within += distance(x, m) <= h;
      converged.push_back(m);
      intensity.push_back(within);
    }
    std::vector<std::size_t> order(n);
    for (std::size_t s = 0; s < n; ++s) order[s] = s;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return intensity[a] > intensity[b]; });
    std::vector<Feature> modes;
    for (std::size_t s : order) {
      bool near = false;
      for (const Feature& kept : modes) near = near || distance(kept, converged[s]) < h;
      if (!near) modes.push_back(converged[s]);
    }
    std::vector<std::size_t> label(n), size(modes.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t best = 0;
      for (std::size_t q = 1; q < modes.size(); ++q)
        if (distance(f[i], modes[q]) < distance(f[i], modes[best])) best = q;
      label[i] = best;
      ++size[best];
    }
    const std::size_t major =
        static_cast<std::size_t>(std::max_element(size.begin(), size.end()) - size.begin());

    Verdict v;
    v.score_name = "signguard";
    v.score.resize(n);
    v.keep.assign(n, 1);
    v.reason.assign(n, "");
    for (std::size_t i = 0; i < n; ++i) {
      v.score[i] = distance(f[i], modes[major]);
      const double norm = norms[i];
      if (norm > upper_ * median || norm < lower_ * median) {
        v.keep[i] = 0;
        v.reason[i] = "signguard: norm " + short_number(norm) + " outside [" +
                      short_number(lower_) + ", " + short_number(upper_) + "] x median norm " +
                      short_number(median);
      } else if (label[i] != major) {
        v.keep[i] = 0;
        v.reason[i] = "signguard: sign statistics (+" + short_number(f[i][0]) +
                      " 0:" + short_number(f[i][1]) + " -" + short_number(f[i][2]) +
                      ") outside the largest cluster (" + std::to_string(size[label[i]]) + " vs " +
                      std::to_string(size[major]) + " clients)";
      }
    }
    return v;
  }

  AggregatePlan aggregate(const RoundContext& round, const Candidates& c) const override {
    AggregatePlan plan;
    plan.verdict = select(round, c);
    const std::vector<double> norms = candidate_norms(round, c);
    const double median = median_of(norms);
    FEDGUARD_EXPECTS(std::count(plan.verdict.keep.begin(), plan.verdict.keep.end(), 1) > 0,
                     "signguard rejected every client " << round.losses);
    plan.weights = uniform_over_kept(plan.verdict.keep);
    for (std::size_t i = 0; i < c.size(); ++i)
      if (norms[i] > median) plan.weights[i] *= median / norms[i];
    return plan;
  }

 private:
  static double estimate_bandwidth(const std::vector<Feature>& f) {
    const std::size_t n = f.size();
    const std::size_t kth =
        std::max<std::size_t>(1, static_cast<std::size_t>(0.3 * static_cast<double>(n)));
    double total = 0;
    std::vector<double> d;
    for (std::size_t i = 0; i < n; ++i) {
      d.clear();
      for (std::size_t j = 0; j < n; ++j)
        d.push_back(distance(f[i], f[j]));  // itself included, as sklearn
      const std::size_t idx = std::min(kth, n) - 1;
      std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(idx), d.end());
      total += d[idx];
    }
    return std::max(1e-6, total / static_cast<double>(n));
  }

  double lower_, upper_, bandwidth_;
};

}  // namespace

std::unique_ptr<Rule> make_signguard(const RuleSpec& spec) {
  return std::make_unique<SignGuard>(spec);
}

}  // namespace fedguard::rules
