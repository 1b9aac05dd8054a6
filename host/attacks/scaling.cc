// Model replacement (scaling).
// Bagdasaryan, Veit, Hua, Estrin, Shmatikov, "How To Backdoor Federated Learning", AISTATS 2020.
//
// The attacker submits X' = gamma (X - G) + G, X its backdoored model and G the global model, so
// that with federated averaging G + (eta / n) sum_i (L_i - G) the backdoored model replaces the
// global one; gamma = n / eta. In update space (what fedguard aggregates) the malicious update is
// gamma * own_i, own_i = X_i - G the update malicious client i trained on its poisoned data.
// Knowledge: n and the server learning rate eta.
//
// Parameters:
//   gamma  explicit boost factor; overrides the formula.
//   eta    the server's global learning rate in G + (eta/n) sum (L_i - G); default 1, i.e.
//          plain FedAvg, which gives gamma = n_total (clients of the round). The paper also
//          notes a smaller gamma trades replacement accuracy for stealth (norm-bound defenses);
//          pass `gamma` for that.
//   norm_ratio  instead of gamma: each update is scaled to norm_ratio x the median norm of the
//          round's benign updates (the norm constraint of the paper's constrain-and-scale: the
//          attacker scales up to what a norm-bound defense accepts; 1 matches the median benign
//          client, below 1 hides among the small updates). Departure: the paper also adds an
//          anomaly term to the training loss; here the backdoored update is trained as usual
//          and only rescaled. Exclusive with gamma and eta.
//   private_ratio  adaptive against `history_group` (docs/detection.md), not in the paper: each
//          attacker adds its own persistent direction (a unit vector drawn once from (seed,
//          attacker), the same every round) of private_ratio x the median norm of the round's
//          benign updates, so that the coalition's cumulative histories stay as far apart as
//          honest clients' own data keeps theirs; the direction takes up norm the backdoor then
//          lacks under a norm bound. Default 0 (off).
//   blend  adaptive against the direction group's alignment test (docs/detection.md, "Alike
//          data or a coalition"), not in the paper: each attacker starts from (1 - blend) own_i
//          + blend mean_k own_k (the coalition's mean update) instead of own_i, so that its
//          members are mostly what they share, as clients holding the same labels are, while
//          their pairwise distances stay above a near-duplicate bound (blend < 1). Applied
//          before gamma / norm_ratio. In [0, 1]; default 0 (off).
// Needs `own` (n_malicious x d).
// info: gamma (the mean factor applied under norm_ratio), eta, norm_ratio, private_ratio, blend.
#include <algorithm>
#include <cmath>
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput scaling(Params& p, const AttackInput& in) {
  const bool explicit_gamma = p.has("gamma"), constrained = p.has("norm_ratio");
  FEDGUARD_EXPECTS(!(constrained && (explicit_gamma || p.has("eta"))),
                   "attack scaling: \"norm_ratio\" replaces \"gamma\" and \"eta\"; give one");
  const double gamma_param = p.number("gamma", 0.0);
  const double eta = p.positive("eta", 1.0);
  const double norm_ratio = p.positive("norm_ratio", 1.0);
  const double private_ratio = p.number("private_ratio", 0.0);
  const double blend = p.number("blend", 0.0);
  p.finish();
  FEDGUARD_EXPECTS(std::isfinite(blend) && blend >= 0 && blend <= 1,
                   "attack scaling: \"blend\" must be in [0, 1], got " << blend);
  FEDGUARD_EXPECTS(
      std::isfinite(private_ratio) && private_ratio >= 0,
      "attack scaling: \"private_ratio\" must be finite and >= 0, got " << private_ratio);
  const bool reads_benign = constrained || private_ratio > 0;
  const std::size_t n = validate("scaling", in, Needs{reads_benign ? 1u : 0u, true, false});
  std::vector<double> factor(in.n_malicious,
                             explicit_gamma ? gamma_param : static_cast<double>(n) / eta);
  auto norm = [&](const float* row) {
    double sq = 0;
    for (std::size_t j = 0; j < in.d; ++j) sq += static_cast<double>(row[j]) * row[j];
    return std::sqrt(sq);
  };
  // The attackers' starting updates: their own, or blended toward the coalition's mean (the
  // mean kept in float64; no copy of the updates).
  std::vector<double> mean(blend > 0 ? in.d : 0, 0.0);
  for (std::size_t i = 0; i < in.n_malicious && blend > 0; ++i)
    for (std::size_t j = 0; j < in.d; ++j) mean[j] += static_cast<double>(in.own[i * in.d + j]);
  for (double& v : mean) v /= static_cast<double>(in.n_malicious);
  auto start = [&](std::size_t i, std::size_t j) {
    const double own = static_cast<double>(in.own[i * in.d + j]);
    return blend > 0 ? (1 - blend) * own + blend * mean[j] : own;
  };
  auto start_norm = [&](std::size_t i) {
    double sq = 0;
    for (std::size_t j = 0; j < in.d; ++j) sq += start(i, j) * start(i, j);
    return std::sqrt(sq);
  };
  double median = 0;
  if (reads_benign) {
    std::vector<double> norms(in.n_benign);
    for (std::size_t b = 0; b < in.n_benign; ++b) norms[b] = norm(in.benign + b * in.d);
    std::sort(norms.begin(), norms.end());
    const std::size_t h = norms.size() / 2;
    median = norms.size() % 2 ? norms[h] : 0.5 * (norms[h - 1] + norms[h]);
  }
  if (constrained) {
    for (std::size_t i = 0; i < in.n_malicious; ++i) {
      const double own = start_norm(i);
      factor[i] = own > 0 ? norm_ratio * median / own : 0.0;
    }
  }
  AttackOutput out = make_output(in);
  double mean_factor = 0;
  for (double f : factor) mean_factor += f;
  out.info["gamma"] = in.n_malicious ? mean_factor / static_cast<double>(in.n_malicious) : 0.0;
  out.info["eta"] = eta;
  if (constrained) out.info["norm_ratio"] = norm_ratio;
  if (private_ratio > 0) out.info["private_ratio"] = private_ratio;
  if (blend > 0) out.info["blend"] = blend;
  // Each attacker's private direction: drawn with round 0, so the same in every round.
  const Rng private_rng(in.seed, 0, "scaling_private");
  std::vector<double> direction(private_ratio > 0 ? in.d : 0);
  std::size_t clamped = 0;
  for (std::size_t i = 0; i < in.n_malicious; ++i) {
    double length = 0;
    for (std::size_t j = 0; j < direction.size(); ++j) {
      direction[j] = private_rng.normal(i * in.d + j);
      length += direction[j] * direction[j];
    }
    const double step = length > 0 ? private_ratio * median / std::sqrt(length) : 0.0;
    for (std::size_t j = 0; j < in.d; ++j)
      out.updates[i * in.d + j] = to_float(
          factor[i] * start(i, j) + (direction.empty() ? 0.0 : step * direction[j]), &clamped);
  }
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
