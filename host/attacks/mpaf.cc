// MPAF, model poisoning with fake clients.
// Cao, Gong, "MPAF: Model Poisoning Attacks to Federated Learning based on Fake Clients",
// CVPR Workshops 2022.
//
// The attacker injects fake clients; each sends lambda * (w_base - w_global), w_base a fixed
// low-accuracy base model (the paper: a randomly initialised model) and w_global the current
// global model, dragging the global model towards w_base round after round. All fakes send the
// same update. Knowledge: only the global model (no benign updates needed).
//
// w_base: N(0, base_std^2) per parameter, drawn from a counter-based generator keyed by
// base_seed alone (not the round), so the base model stays the same over the whole run as in the
// paper. A real randomly initialised network has per-layer scales (e.g. Kaiming); fedguard sees
// only a flat vector, so one scale is used; pass base_std to match the model's initialisation.
//
// Parameters:
//   lambda     1e6 (the paper's default scaling factor)
//   base_std   1.0
//   base_seed  the input's seed by default
// Needs `global_model`. info: lambda, base_std, base_seed.
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput mpaf(Params& p, const AttackInput& in) {
  const double lambda = p.number("lambda", 1e6);
  const double base_std = p.number("base_std", 1.0);
  FEDGUARD_EXPECTS(base_std >= 0,
                   "attack 'mpaf': parameter 'base_std' must be >= 0, got " << base_std);
  const std::uint64_t base_seed = p.count("base_seed", in.seed);
  p.finish();
  validate("mpaf", in, Needs{0, false, true});
  AttackOutput out = make_output(in);
  out.info["lambda"] = lambda;
  out.info["base_std"] = base_std;
  out.info["base_seed"] = base_seed;
  if (in.n_malicious == 0) return out;
  const Rng rng(base_seed, 0, "mpaf_base");
  std::size_t clamped = 0;
  for (std::size_t j = 0; j < in.d; ++j)
    out.updates[j] = to_float(
        lambda * (base_std * rng.normal(j) - static_cast<double>(in.global_model[j])), &clamped);
  replicate_first_row(out);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
