// Sign flipping ("bit flipping" in the bucketing paper).
// Used as a baseline attack throughout the literature, e.g. Karimireddy, He, Jaggi,
// "Byzantine-Robust Learning on Heterogeneous Datasets via Bucketing", ICLR 2022 ("bit-flip":
// the attacker sends -g), and Allen-Zhu et al., ICLR 2021.
//
// Malicious client i sends -k * own_i when `own` (its honestly computed update) is given, else
// -k * mean(benign) (the omniscient variant: every malicious client sends the same). Knowledge:
// its own update, or the benign mean.
//
// Parameters:
//   k  default 1 (plain sign flip); larger k is the "scaled sign flip" some papers use.
// info: k, base ("own" or "benign_mean").
#include <vector>

#include "attacks/attack.h"

namespace fedguard::attacks {

AttackOutput sign_flip(Params& p, const AttackInput& in) {
  const double k = p.number("k", 1.0);
  p.finish();
  validate("sign_flip", in, Needs{in.own ? std::size_t{0} : std::size_t{1}, false, false});
  AttackOutput out = make_output(in);
  out.info["k"] = k;
  out.info["base"] = in.own ? "own" : "benign_mean";
  std::size_t clamped = 0;
  if (in.own) {
    for (std::size_t i = 0; i < in.n_malicious * in.d; ++i)
      out.updates[i] = to_float(-k * static_cast<double>(in.own[i]), &clamped);
  } else if (in.n_malicious > 0) {
    std::vector<double> mean;
    for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
      mean.resize(j1 - j0);
      column_stats(in, j0, j1, 0, mean.data(), nullptr);
      for (std::size_t j = j0; j < j1; ++j) out.updates[j] = to_float(-k * mean[j - j0], &clamped);
    });
    replicate_first_row(out);
  }
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
