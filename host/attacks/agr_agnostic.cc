// Min-Max and Min-Sum's common machinery: perturbation, distances in closed form, the paper's
// halving search for gamma.
//
// mal = mu - gamma p, mu the benign mean, p the perturbation:
//   "unit_vec"  p = mu / ||mu||          (inverse unit vector of the benign mean)
//   "std"       p = per-coordinate std    (inverse standard deviation; ddof = 1 as torch.std)
//   "sign"      p = sign(mu)              (inverse sign)
// With c_i = x_i - mu, ||mal - x_i||^2 = ||c_i||^2 + 2 gamma <c_i, p> + gamma^2 ||p||^2, so one
// pass over the benign updates (centred Gram matrix and <c_i, p>, float64) makes every step of
// the search O(n). A second pass writes mal.
//
// Search (the paper's Algorithm 1 and its code): gamma = gamma_init, step = gamma_init / 2,
// gamma_succ = 0; while |gamma_succ - gamma| > tau: if the objective at gamma is within the
// threshold, gamma_succ = gamma and gamma += step, else gamma -= step; step /= 2. The result is
// gamma_succ. The search cannot go beyond 2 gamma_init; info["saturated"] says when gamma_succ
// is within 2 tau of that ceiling (raise gamma_init then: the largest feasible gamma is larger).
// gamma = 0 is always feasible (the benign mean is within both thresholds), so gamma_succ >= 0.
#include "attacks/agr_agnostic.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput agr_agnostic_attack(const char* name, AgrObjective objective, Params& p,
                                 const AttackInput& in) {
  const std::string perturbation = p.choice("perturbation", "std", {"unit_vec", "std", "sign"});
  const double gamma_init = p.positive("gamma_init", 10.0);
  const double tau = p.positive("tau", 1e-5);
  p.finish();
  validate(name, in, Needs{2, false, false});
  AttackOutput out = make_output(in);

  const Direction dir = perturbation == "unit_vec" ? Direction::kMean
                        : perturbation == "std"    ? Direction::kStd
                                                   : Direction::kSign;
  const BenignSummary s = summarise_benign(in, {dir});
  const std::size_t n = s.n;
  double p_sq = s.dots[0][0];
  std::vector<double> proj = s.proj[0];
  double mu_norm = 0;
  if (dir == Direction::kMean) {
    mu_norm = std::sqrt(p_sq);
    FEDGUARD_EXPECTS(mu_norm > 0, "attack '"
                                      << name
                                      << "': the benign mean is zero, so the unit_vec perturbation "
                                         "is undefined; use 'std' or 'sign'");
    for (double& v : proj) v /= mu_norm;
    p_sq = 1.0;
  }
  const std::vector<double> dist = pairwise_sq_distances(s);
  double threshold = 0;
  if (objective == AgrObjective::kMinMax) {
    for (double v : dist) threshold = std::max(threshold, v);
  } else {
    threshold = HUGE_VAL;
    for (std::size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < n; ++j) sum += dist[i * n + j];
      threshold = std::min(threshold, sum);
    }
  }
  auto objective_at = [&](double gamma) {
    double acc = objective == AgrObjective::kMinMax ? 0.0 : 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double d2 =
          std::max(0.0, s.gram[i * n + i] + 2.0 * gamma * proj[i] + gamma * gamma * p_sq);
      acc = objective == AgrObjective::kMinMax ? std::max(acc, d2) : acc + d2;
    }
    return acc;
  };

  double gamma = gamma_init, step = gamma_init / 2.0, gamma_succ = 0.0;
  std::size_t steps = 0;
  while (std::abs(gamma_succ - gamma) > tau && steps < 200) {
    if (objective_at(gamma) <= threshold) {
      gamma_succ = gamma;
      gamma += step;
    } else {
      gamma -= step;
    }
    step /= 2.0;
    ++steps;
  }
  out.info["gamma"] = gamma_succ;
  out.info["perturbation"] = perturbation;
  out.info["threshold"] = threshold;
  out.info["objective"] = objective_at(gamma_succ);
  out.info["gamma_init"] = gamma_init;
  out.info["tau"] = tau;
  out.info["search_steps"] = steps;
  out.info["saturated"] = gamma_succ >= 2.0 * gamma_init - 2.0 * tau;
  if (in.n_malicious == 0) return out;

  std::size_t clamped = 0;
  std::vector<double> mean, sd;
  for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
    mean.resize(j1 - j0);
    sd.resize(j1 - j0);
    column_stats(in, j0, j1, 1, mean.data(), sd.data());
    for (std::size_t j = j0; j < j1; ++j) {
      const double m = mean[j - j0];
      const double pj = dir == Direction::kMean  ? m / mu_norm
                        : dir == Direction::kStd ? sd[j - j0]
                                                 : (m > 0 ? 1.0 : (m < 0 ? -1.0 : 0.0));
      out.updates[j] = to_float(m - gamma_succ * pj, &clamped);
    }
  });
  replicate_first_row(out);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
