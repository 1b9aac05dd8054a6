// IPM, inner product manipulation.
// Xie, Koyejo, Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner Product
// Manipulation", UAI 2019.
//
// Every malicious client sends -epsilon * mean(benign) (mean in float64), so that the inner
// product of the true gradient with the aggregate turns negative. Knowledge: the benign mean.
//
// Parameters:
//   epsilon  default 0.1: the paper's small epsilon, which makes the malicious updates sit
//            close to the benign ones (defeats Krum and other distance-based selection). The
//            paper's "large epsilon" variant, epsilon = 100, defeats median-type rules
//            (coordinate median, trimmed mean) when malicious clients are many. Any finite
//            value is accepted (epsilon < 0 is no longer an attack, but is allowed for sweeps).
// info: epsilon.
#include <vector>

#include "attacks/attack.h"

namespace fedguard::attacks {

AttackOutput ipm(Params& p, const AttackInput& in) {
  const double epsilon = p.number("epsilon", 0.1);
  p.finish();
  validate("ipm", in, Needs{1, false, false});
  AttackOutput out = make_output(in);
  out.info["epsilon"] = epsilon;
  if (in.n_malicious == 0) return out;
  std::size_t clamped = 0;
  std::vector<double> mean;
  for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
    mean.resize(j1 - j0);
    column_stats(in, j0, j1, 0, mean.data(), nullptr);
    for (std::size_t j = j0; j < j1; ++j)
      out.updates[j] = to_float(-epsilon * mean[j - j0], &clamped);
  });
  replicate_first_row(out);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
