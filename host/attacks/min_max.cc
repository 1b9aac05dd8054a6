// Min-Max, the AGR-agnostic attack.
// Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
// Defenses for Federated Learning", NDSS 2021.
//
// All malicious clients send mal = mu - gamma p (mu the benign mean, p the perturbation), gamma
// the largest with max_i ||mal - x_i||^2 <= max_{i,j} ||x_i - x_j||^2 over the benign updates: the
// malicious update is no farther from any benign update than the two farthest benign updates
// are from each other. Knowledge: the benign updates (full knowledge; pass the attackers' own
// honest updates as `benign` for the paper's partial-knowledge variant).
//
// Parameters (the paper's defaults):
//   perturbation  "std" (default; inverse standard deviation), "unit_vec", "sign"
//   gamma_init    10 (first gamma; the halving search starts with step gamma_init / 2 = 5)
//   tau           1e-5 (stop when successive gammas differ by at most tau)
// The search and its ceiling of 2 gamma_init: agr_agnostic.cc. info: gamma, threshold,
// objective (the max squared distance at gamma), saturated, perturbation.
// Needs 2 benign updates.
#include "attacks/agr_agnostic.h"

namespace fedguard::attacks {

AttackOutput min_max(Params& p, const AttackInput& in) {
  return agr_agnostic_attack("min_max", AgrObjective::kMinMax, p, in);
}

}  // namespace fedguard::attacks
