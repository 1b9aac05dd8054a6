// FLDetector.
// Zhang, Cao, Jia, Gong, "FLDetector: Defending Federated Learning Against Model Poisoning
// Attacks via Detecting Malicious Clients", KDD 2022.
// A benign client's update is predictable from its previous one through the curvature of the
// loss: g_i(t) ~ g_i(t-1) + H_t (w_t - w_{t-1}), with H_t an L-BFGS approximation built from the
// global model's recent history. Each round:
//   pairs (s_j, y_j): s_j = w_j - w_{j-1} (the aggregate the server applied in round j-1),
//                     y_j = g_j - g_{j-1} (change of the aggregated gradient), last N of them;
//   predicted g_i = g_i(t-1) + H v, v = w_t - w_{t-1}; d_i = ||predicted - g_i(t)||, d /= ||d||_1;
//   suspicion s_i = mean of d_i over the last N rounds;
//   gap statistic on the min-max-normalised suspicions; if it finds more than one cluster,
//   2-means and the cluster with the larger mean is malicious.
// Parameters: window N [10], min_pairs [N: detect once the window of model changes is full],
//   max_clusters [10], references [20: uniform reference sets of the gap statistic], seed [0].
// Departures from the paper:
// - Gradients vs updates: fedguard receives model deltas x_i (= -lr g_i), and the server applies
//   the aggregate A_t: w_{t+1} = w_t + A_t. With g = -x (the learning rate cancels: it scales s
//   and v alike), s_j = A_{j-1}, y_j = -(A_j - A_{j-1}), v = A_{t-1}, predicted x_i = x_i(t-1) - H
//   v. The engine sketches the aggregate it returns; a server applying something else (another
//   learning rate is fine, another vector is not) breaks the model history.
// - Everything lives in the count sketch space (EngineConfig::sketch_dim, default 256): the
//   paper's Hessian-vector products and distances use the full d. The count sketch preserves
//   squared distances with a relative error of about sqrt(2 / sketch_dim) (its variance, the
//   same as a dense Johnson-Lindenstrauss projection's), and
//   the L-BFGS product is computed from the sketched pairs, which is the compact formula applied
//   to the projected history (exact when the true H maps the sketched subspace to itself,
//   approximate otherwise).
// - Partial participation: a client that did not take part in the previous round has no
//   prediction this round; its window keeps its earlier entries (the paper has every client in
//   every round). The paper removes detected clients and restarts training; fedguard rejects
//   them in the rounds where they are detected (feed the reputation to keep them out).
// Score: the suspicion (window mean); NaN for a client never predicted.
#include "rules/fldetector.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "common/short_number.h"
#include "fedguard/error.h"
#include "rules/rule.h"

namespace fedguard::rules {
namespace fldetector {

std::vector<double> lbfgs_hvp(const std::vector<std::vector<double>>& s_in,
                              const std::vector<std::vector<double>>& y_in,
                              const std::vector<double>& v) {
  const std::size_t q = v.size();
  std::vector<const std::vector<double>*> s, y;
  for (std::size_t j = 0; j < s_in.size() && j < y_in.size(); ++j) {
    double ss = 0;
    for (double a : s_in[j]) ss += a * a;
    if (ss > 0 && std::isfinite(ss)) s.push_back(&s_in[j]), y.push_back(&y_in[j]);
  }
  auto dot = [q](const std::vector<double>& a, const std::vector<double>& b) {
    double r = 0;
    for (std::size_t i = 0; i < q; ++i) r += a[i] * b[i];
    return r;
  };
  while (!s.empty()) {
    const std::size_t m = s.size();
    const double sigma = dot(*y.back(), *s.back()) / dot(*s.back(), *s.back());
    const std::size_t w = 2 * m;
    std::vector<double> M(w * w, 0.0), rhs(w, 0.0);
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t j = 0; j < m; ++j) {
        M[i * w + j] = sigma * dot(*s[i], *s[j]);
        const double sy = dot(*s[i], *y[j]);
        if (i > j) M[i * w + (m + j)] = sy;          // L
        if (i == j) M[(m + i) * w + (m + i)] = -sy;  // -D
      }
    }
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < i; ++j) M[(m + j) * w + i] = M[i * w + (m + j)];  // L^T
    for (std::size_t i = 0; i < m; ++i) {
      rhs[i] = sigma * dot(*s[i], v);
      rhs[m + i] = dot(*y[i], v);
    }
    std::vector<lapack_int> pivots(w);
    const lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, static_cast<lapack_int>(w), 1, M.data(),
                                          static_cast<lapack_int>(w), pivots.data(), rhs.data(), 1);
    bool finite = info == 0;
    for (double r : rhs) finite = finite && std::isfinite(r);
    if (!finite || !std::isfinite(sigma)) {  // singular middle matrix: drop the oldest pair
      s.erase(s.begin());
      y.erase(y.begin());
      continue;
    }
    std::vector<double> out(q);
    for (std::size_t t = 0; t < q; ++t) {
      double acc = sigma * v[t];
      for (std::size_t i = 0; i < m; ++i)
        acc -= sigma * (*s[i])[t] * rhs[i] + (*y[i])[t] * rhs[m + i];
      out[t] = acc;
    }
    return out;
  }
  return std::vector<double>(q, 0.0);
}

namespace {

// Divide and conquer over the monotone optimal split points of 1-D k-means.
struct Segments {
  std::vector<double> p1, p2;  // prefix sums of the centred sorted values and their squares
  double cost(std::size_t i, std::size_t j) const {  // values i..j inclusive
    const double n = static_cast<double>(j - i + 1);
    const double s = p1[j + 1] - p1[i], s2 = p2[j + 1] - p2[i];
    return std::max(0.0, s2 - s * s / n);
  }
};

void fill_layer(const Segments& seg, const std::vector<double>& prev, std::vector<double>& cur,
                std::size_t k, std::size_t lo, std::size_t hi, std::size_t opt_lo,
                std::size_t opt_hi) {
  if (lo > hi) return;
  const std::size_t mid = lo + (hi - lo) / 2;
  double best = INFINITY;
  std::size_t best_i = std::max(opt_lo, k - 1);
  // The last cluster is values i..mid; the first k-1 clusters hold values 0..i-1 (at least k-1).
  for (std::size_t i = std::max(opt_lo, k - 1); i <= std::min(mid, opt_hi); ++i) {
    const double c = prev[i - 1] + seg.cost(i, mid);
    if (c < best) best = c, best_i = i;
  }
  cur[mid] = best;
  if (mid > lo) fill_layer(seg, prev, cur, k, lo, mid - 1, opt_lo, best_i);
  fill_layer(seg, prev, cur, k, mid + 1, hi, best_i, opt_hi);
}

}  // namespace

std::vector<double> kmeans_1d_costs(std::vector<double> x, std::size_t max_k) {
  const std::size_t m = x.size();
  std::vector<double> out(max_k, 0.0);
  if (m == 0 || max_k == 0) return out;
  std::sort(x.begin(), x.end());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(m);
  Segments seg;
  seg.p1.assign(m + 1, 0.0);
  seg.p2.assign(m + 1, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    const double c = x[i] - mean;
    seg.p1[i + 1] = seg.p1[i] + c;
    seg.p2[i + 1] = seg.p2[i] + c * c;
  }
  std::vector<double> prev(m), cur(m);
  for (std::size_t j = 0; j < m; ++j) prev[j] = seg.cost(0, j);
  out[0] = prev[m - 1];
  for (std::size_t k = 2; k <= max_k; ++k) {
    if (k > m) break;  // W_k = 0
    std::fill(cur.begin(), cur.end(), INFINITY);
    fill_layer(seg, prev, cur, k, k - 1, m - 1, k - 1, m - 1);
    out[k - 1] = cur[m - 1];
    std::swap(prev, cur);
  }
  return out;
}

std::vector<std::uint8_t> two_means_upper(const std::vector<double>& x) {
  const std::size_t m = x.size();
  std::vector<std::uint8_t> upper(m, 0);
  if (m < 2) return upper;
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> sorted(m);
  for (std::size_t i = 0; i < m; ++i) sorted[i] = x[order[i]];
  const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / static_cast<double>(m);
  Segments seg;
  seg.p1.assign(m + 1, 0.0);
  seg.p2.assign(m + 1, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    const double c = sorted[i] - mean;
    seg.p1[i + 1] = seg.p1[i] + c;
    seg.p2[i + 1] = seg.p2[i] + c * c;
  }
  // Split between equal values never helps; the first best split (lowest index) wins ties.
  double best = INFINITY;
  std::size_t split = m;
  for (std::size_t i = 1; i < m; ++i) {
    if (sorted[i] == sorted[i - 1]) continue;
    const double c = seg.cost(0, i - 1) + seg.cost(i, m - 1);
    if (c < best) best = c, split = i;
  }
  for (std::size_t i = split; i < m; ++i) upper[order[i]] = 1;
  return upper;
}

std::size_t gap_statistic(const std::vector<double>& x, std::size_t max_k, std::size_t references,
                          std::uint64_t seed) {
  const std::size_t m = x.size();
  const std::size_t kmax = std::min(max_k, m);
  if (kmax <= 1 || references == 0) return 1;
  constexpr double kFloor = 1e-12;  // W_k = 0 (as many clusters as distinct values) stays finite
  const std::vector<double> w = kmeans_1d_costs(x, kmax);
  std::vector<double> ref_sum(kmax, 0.0), ref_sq(kmax, 0.0);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::vector<double> sample(m);
  for (std::size_t b = 0; b < references; ++b) {
    for (double& v : sample) v = uniform(gen);
    const std::vector<double> wr = kmeans_1d_costs(sample, kmax);
    for (std::size_t k = 0; k < kmax; ++k) {
      const double l = std::log(std::max(wr[k], kFloor));
      ref_sum[k] += l;
      ref_sq[k] += l * l;
    }
  }
  const double bcount = static_cast<double>(references);
  std::vector<double> gap(kmax), sk(kmax);
  for (std::size_t k = 0; k < kmax; ++k) {
    const double mean = ref_sum[k] / bcount;
    gap[k] = mean - std::log(std::max(w[k], kFloor));
    sk[k] = std::sqrt(std::max(0.0, ref_sq[k] / bcount - mean * mean)) * std::sqrt(1 + 1 / bcount);
  }
  for (std::size_t k = 0; k + 1 < kmax; ++k)
    if (gap[k] >= gap[k + 1] - sk[k + 1]) return k + 1;
  return kmax;
}

}  // namespace fldetector

namespace {

class FlDetector final : public Rule {
 public:
  explicit FlDetector(const RuleSpec& spec) {
    Params p(spec);
    window_ = p.count("window", 10, kAggregateHistory - 1);
    FEDGUARD_EXPECTS(
        window_ >= 1 && window_ + 1 <= kAggregateHistory,
        "fldetector: window must be in [1, " << kAggregateHistory - 1 << "], got " << window_);
    min_pairs_ = p.count("min_pairs", window_, kAggregateHistory - 1);
    FEDGUARD_EXPECTS(
        min_pairs_ >= 1 && min_pairs_ <= window_,
        "fldetector: min_pairs must be in [1, window=" << window_ << "], got " << min_pairs_);
    max_clusters_ = p.count("max_clusters", 10, kMaxClientCount);
    FEDGUARD_EXPECTS(max_clusters_ >= 2,
                     "fldetector: max_clusters must be >= 2, got " << max_clusters_);
    references_ = p.count("references", 20, kMaxClientCount);
    FEDGUARD_EXPECTS(references_ >= 1, "fldetector: references must be >= 1");
    seed_ = p.count("seed", 0, kMaxSeed);
    p.finish();
  }
  std::string name() const override { return "fldetector"; }

  Verdict select(const RoundContext& round, const Candidates& c) const override {
    const std::size_t n = c.size();
    FEDGUARD_EXPECTS(c.plain(),
                     "fldetector must run on untransformed updates (put it among the filters)");
    FEDGUARD_EXPECTS(round.memory != nullptr && round.memory->round_sketch != nullptr,
                     "fldetector: the engine passed no client memory");
    const ClientMemory& mem = *round.memory;
    const std::size_t q = mem.sketch_dim;
    const std::vector<std::vector<double>>& agg = *mem.aggregate_sketches;

    Verdict v;
    v.score_name = "fldetector";
    v.score.assign(n, std::nan(""));
    v.keep.assign(n, 1);
    v.reason.assign(n, "");
    v.suspicion.resize(n);

    // The model's recent history: pairs from consecutive aggregates, the newest last.
    const std::size_t pairs = agg.empty() ? 0 : std::min(window_, agg.size() - 1);
    std::vector<double> hv;
    if (pairs >= 1) {
      std::vector<std::vector<double>> s, y;
      for (std::size_t j = agg.size() - pairs; j < agg.size(); ++j) {
        s.push_back(agg[j - 1]);
        std::vector<double> yj(q);
        for (std::size_t t = 0; t < q; ++t) yj[t] = -(agg[j][t] - agg[j - 1][t]);
        y.push_back(std::move(yj));
      }
      hv = fldetector::lbfgs_hvp(s, y, agg.back());
    }

    // Prediction errors of the clients that took part in the previous round.
    std::vector<double> err(n, std::nan(""));
    double total = 0;
    for (std::size_t p = 0; p < n; ++p) {
      const std::size_t o = c.owner[p];
      const std::vector<double>* prev = mem.previous_sketch[o];
      if (hv.empty() || prev == nullptr) continue;
      const double* now = mem.round_sketch->data() + o * q;
      double e = 0;
      for (std::size_t t = 0; t < q; ++t) {
        const double diff = (*prev)[t] - hv[t] - now[t];
        e += diff * diff;
      }
      err[p] = std::sqrt(e);
      total += err[p];
    }
    std::vector<std::size_t> scored;
    for (std::size_t p = 0; p < n; ++p) {
      const std::vector<double>* old = mem.suspicion[c.owner[p]];
      std::vector<double> w = old ? *old : std::vector<double>{};
      if (!std::isnan(err[p])) {
        w.push_back(total > 0 ? err[p] / total : 0.0);
        if (w.size() > window_) w.erase(w.begin(), w.end() - static_cast<std::ptrdiff_t>(window_));
      }
      if (!w.empty()) {
        v.score[p] = std::accumulate(w.begin(), w.end(), 0.0) / static_cast<double>(w.size());
        if (!std::isnan(err[p])) scored.push_back(p);
      }
      v.suspicion[p] = std::move(w);
    }

    // Detection, once the model history fills the window.
    if (pairs < min_pairs_ || scored.size() < 3) return v;
    double lo = INFINITY, hi = -INFINITY;
    for (std::size_t p : scored) lo = std::min(lo, v.score[p]), hi = std::max(hi, v.score[p]);
    if (!(hi > lo)) return v;
    std::vector<double> z;
    for (std::size_t p : scored) z.push_back((v.score[p] - lo) / (hi - lo));
    const std::size_t k =
        fldetector::gap_statistic(z, max_clusters_, references_, seed_ ^ round.round_index);
    if (k < 2) return v;
    const std::vector<std::uint8_t> upper = fldetector::two_means_upper(z);
    double floor = INFINITY;
    for (std::size_t i = 0; i < scored.size(); ++i)
      if (upper[i]) floor = std::min(floor, v.score[scored[i]]);
    for (std::size_t i = 0; i < scored.size(); ++i) {
      if (!upper[i]) continue;
      const std::size_t p = scored[i];
      v.keep[p] = 0;
      v.reason[p] = "fldetector: suspicion " + short_number(v.score[p]) +
                    " in the upper of 2 clusters (from " + short_number(floor) +
                    "; gap statistic found " + std::to_string(k) + " clusters)";
    }
    return v;
  }

 private:
  std::size_t window_ = 10, min_pairs_ = 10, max_clusters_ = 10, references_ = 20, seed_ = 0;
};

}  // namespace

std::unique_ptr<Rule> make_fldetector(const RuleSpec& spec) {
  return std::make_unique<FlDetector>(spec);
}

}  // namespace fedguard::rules
