// Fang et al.'s full-knowledge attack on Krum.
// Fang, Cao, Jia, Gong, "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning",
// USENIX Security 2020 (Section 3.3, attacking Krum).
//
// The first malicious client sends w'_1 = w_ref - lambda s, s = sign of the benign mean (the
// direction the global model moves without attack), the others send copies of w'_1 (the paper
// allows any point within a small epsilon; copies are the common choice and what PAPERS.md
// states). lambda starts at the paper's upper bound
//   lambda_max = 1/((m - 2c - 1) sqrt d) * min_i sum_{l in Gamma_i} D(x_l, x_i)
//              + 1/sqrt d * max_i D(x_i, w_ref)
// (i over benign updates, Gamma_i the m - c - 2 benign updates nearest to x_i, D Euclidean, m
// clients, c malicious) and is halved until Krum (f = c, n - f - 2 neighbours, squared distances)
// selects w'_1 among the benign updates and the c copies, or lambda < lambda_min.
//
// In update space (fedguard aggregates updates w_i - w_global) the paper's w_ref, the current
// global model, is the zero update: w'_1 = -lambda s. That is the default (reference "zero").
// Some implementations start from the benign mean instead: reference "mean" (w'_1 = mu - lambda s).
// Knowledge: the benign updates and the aggregation rule.
//
// m and c are the updates the attacker sees: m = n_benign + n_malicious, c = n_malicious (the
// partial-knowledge variant passes the attackers' honest updates as benign). Krum needs
// m > 2c + 2, i.e. n_benign > c + 2.
// "Selected" is decided in float64 on the float32-rounded candidate, and requires the candidate's
// score to be below every benign score by more than 1e-5 relative (the engine's Krum treats scores
// within 1e-6 relative as ties and gives them to the lower index).
//
// Parameters:
//   reference   "zero" (default, the paper in update space) or "mean"
//   lambda_min  1e-5 (the paper's threshold)
//   krum_f      the f the server's Krum uses (default n_malicious)
// info: lambda, lambda_max, selected, halvings, reference.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

namespace {

double sum_smallest(std::vector<double>& v, std::size_t k) {
  k = std::min(k, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  std::sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k));
  return std::accumulate(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), 0.0);
}

}  // namespace

AttackOutput fang_krum(Params& p, const AttackInput& in) {
  const std::string reference = p.choice("reference", "zero", {"zero", "mean"});
  const double lambda_min = p.positive("lambda_min", 1e-5);
  const std::size_t c = in.n_malicious;
  const std::size_t krum_f = p.count("krum_f", c);
  p.finish();
  validate("fang_krum", in, Needs{1, false, false});
  const std::size_t nb = in.n_benign, m = nb + c;
  if (c == 0) return make_output(in);
  FEDGUARD_EXPECTS(m > 2 * krum_f + 2 && m > 2 * c + 1 && nb >= 2,
                   "attack 'fang_krum': Krum needs n > 2f + 2, got n="
                       << m << " (n_benign=" << nb << " + n_malicious=" << c << "), f=" << krum_f);
  AttackOutput out = make_output(in);

  // Benign summaries: centred Gram, <c_i, s>, <c_i, mu>, mu.mu, mu.s, s.s.
  const BenignSummary sm = summarise_benign(in, {Direction::kSign, Direction::kMean});
  const std::vector<double>& cs = sm.proj[0];
  const std::vector<double>& cmu = sm.proj[1];
  const double ss = sm.dots[0][0], mus = sm.dots[0][1], mumu = sm.dots[1][1];
  const bool zero_ref = reference == "zero";
  const std::vector<double> dist = pairwise_sq_distances(sm);
  // ||x_i - w_ref||^2: the update's squared norm (reference zero) or ||c_i||^2 (reference mean).
  std::vector<double> ref_sq(nb);
  for (std::size_t i = 0; i < nb; ++i)
    ref_sq[i] = std::max(0.0, sm.gram[i * nb + i] + (zero_ref ? 2.0 * cmu[i] + mumu : 0.0));

  // The paper's upper bound on lambda.
  const double sqrt_d = std::sqrt(static_cast<double>(in.d));
  double min_sum = HUGE_VAL, max_ref = 0;
  std::vector<double> row;
  for (std::size_t i = 0; i < nb; ++i) {
    row.clear();
    for (std::size_t j = 0; j < nb; ++j)
      if (j != i) row.push_back(std::sqrt(dist[i * nb + j]));
    min_sum = std::min(min_sum, sum_smallest(row, m - c - 2));
    max_ref = std::max(max_ref, std::sqrt(ref_sq[i]));
  }
  const double lambda_max =
      min_sum / (static_cast<double>(m - 2 * c - 1) * sqrt_d) + max_ref / sqrt_d;

  // Krum on benign + c copies of the candidate; true when a copy wins by a clear margin.
  const std::size_t q = m - krum_f - 2;
  auto selected = [&](double lambda) {
    // ||cand - x_i||^2 with cand = w_ref - lambda s, x_i = mu + c_i.
    //   reference zero: ||c_i + mu + lambda s||^2;  reference mean: ||c_i + lambda s||^2.
    std::vector<double> to_cand(nb);
    for (std::size_t i = 0; i < nb; ++i) {
      double v = sm.gram[i * nb + i] + 2.0 * lambda * cs[i] + lambda * lambda * ss;
      if (zero_ref) v += 2.0 * cmu[i] + mumu + 2.0 * lambda * mus;
      to_cand[i] = std::max(0.0, v);
    }
    double best_benign = HUGE_VAL;
    for (std::size_t i = 0; i < nb; ++i) {
      row.clear();
      for (std::size_t j = 0; j < nb; ++j)
        if (j != i) row.push_back(dist[i * nb + j]);
      for (std::size_t k = 0; k < c; ++k) row.push_back(to_cand[i]);
      best_benign = std::min(best_benign, sum_smallest(row, q));
    }
    row.assign(c - 1, 0.0);
    row.insert(row.end(), to_cand.begin(), to_cand.end());
    const double cand = sum_smallest(row, q);
    return cand < best_benign && (best_benign - cand) > 1e-5 * best_benign;
  };

  double lambda = lambda_max;
  std::size_t halvings = 0;
  bool ok = false;
  while (true) {
    const double lf =
        static_cast<double>(static_cast<float>(lambda));  // what is sent (reference zero)
    if (selected(zero_ref ? lf : lambda)) {
      ok = true;
      break;
    }
    if (lambda < lambda_min) break;
    lambda /= 2.0;
    ++halvings;
  }
  out.info["lambda"] = lambda;
  out.info["lambda_max"] = lambda_max;
  out.info["selected"] = ok;
  out.info["halvings"] = halvings;
  out.info["reference"] = reference;

  std::size_t clamped = 0;
  std::vector<double> mean;
  for_each_tile(in.d, nb, [&](std::size_t j0, std::size_t j1) {
    mean.resize(j1 - j0);
    column_stats(in, j0, j1, 0, mean.data(), nullptr);
    for (std::size_t j = j0; j < j1; ++j) {
      const double mj = mean[j - j0];
      const double sj = mj > 0 ? 1.0 : (mj < 0 ? -1.0 : 0.0);
      out.updates[j] = to_float((zero_ref ? 0.0 : mj) - lambda * sj, &clamped);
    }
  });
  replicate_first_row(out);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
