// Gaussian (random) updates.
// The "Gaussian attack" of Fang, Cao, Jia, Gong, "Local Model Poisoning Attacks to
// Byzantine-Robust Federated Learning", USENIX Security 2020, used again by FLTrust (Cao et al.,
// NDSS'21) and FLDetector (Zhang et al., KDD'22): each malicious client sends a vector drawn from
// N(0, sigma^2 I), sigma = 200 in those papers. Knowledge: none (with center "zero").
//
// Parameters:
//   sigma   default 200 (the papers above); sigma = 1 is the other common choice.
//   center  "zero" (default, the papers' attack: pure noise) or "mean" (benign mean + noise, a
//           stealthier variant: needs at least one benign update).
// Every malicious client draws its own noise. Draws are counter-based (attacks/attack.h): value
// (i, j) depends only on (seed, round, i, j), so the same seed and round give the same output and
// a different seed or round gives different noise.
// info: sigma, center.
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput gaussian(Params& p, const AttackInput& in) {
  const double sigma = p.number("sigma", 200.0);
  FEDGUARD_EXPECTS(sigma >= 0, "attack 'gaussian': parameter 'sigma' must be >= 0, got " << sigma);
  const std::string center = p.choice("center", "zero", {"zero", "mean"});
  p.finish();
  validate("gaussian", in, Needs{center == "mean" ? std::size_t{1} : std::size_t{0}, false, false});
  AttackOutput out = make_output(in);
  out.info["sigma"] = sigma;
  out.info["center"] = center;
  if (in.n_malicious == 0) return out;
  const Rng rng(in.seed, in.round, "gaussian");
  std::size_t clamped = 0;
  std::vector<double> mean;
  for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
    mean.assign(j1 - j0, 0.0);
    if (center == "mean") column_stats(in, j0, j1, 0, mean.data(), nullptr);
    for (std::size_t i = 0; i < in.n_malicious; ++i) {
      float* row = out.updates.data() + i * in.d;
      for (std::size_t j = j0; j < j1; ++j)
        row[j] = to_float(mean[j - j0] + sigma * rng.normal(i * in.d + j), &clamped);
    }
  });
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
