// Min-Sum, the AGR-agnostic attack.
// Shejwalkar, Houmansadr, "Manipulating the Byzantine: Optimizing Model Poisoning Attacks and
// Defenses for Federated Learning", NDSS 2021.
//
// All malicious clients send mal = mu - gamma p (mu the benign mean, p the perturbation), gamma
// the largest with sum_i ||mal - x_i||^2 <= min_i sum_j ||x_i - x_j||^2 over the benign updates:
// the malicious update's sum of squared distances to the benign updates is no larger than that
// of the most central benign update. Knowledge: the benign updates.
//
// Parameters (the paper's defaults):
//   perturbation  "std" (default), "unit_vec", "sign"
//   gamma_init    10
//   tau           1e-5
// The search: agr_agnostic.cc. info: gamma, threshold, objective (the sum of squared distances
// at gamma), saturated, perturbation.
// Needs 2 benign updates.
#include "attacks/agr_agnostic.h"

namespace fedguard::attacks {

AttackOutput min_sum(Params& p, const AttackInput& in) {
  return agr_agnostic_attack("min_sum", AgrObjective::kMinSum, p, in);
}

}  // namespace fedguard::attacks
