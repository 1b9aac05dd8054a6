// ALIE, "a little is enough".
// Baruch, Baruch, Goldberg, "A Little Is Enough: Circumventing Defenses For Distributed
// Learning", NeurIPS 2019.
//
// Every malicious client sends mu - z * sigma, mu and sigma the per-coordinate mean and standard
// deviation of the benign updates (float64). Knowledge: the benign updates of the round (or the
// attackers' own honest updates as their estimate: pass those as `benign`).
//
// z, by default z_max from n (clients of the round, n_total) and f (n_malicious):
//   s = floor(n/2 + 1) - f              (benign supporters the attackers need for a majority)
//   z = Phi^-1((n - f - s) / (n - f))   (`z_formula: "benign"`, the default)
// which gives z = 0.253 for (n, f) = (25, 5), 0.336 for (50, 12), 0.286 for (100, 20): the values
// of /work/shared/PAPERS.md and of the bucketing paper's code (Karimireddy et al., ICLR'22) that
// the project's evaluation reproduces. The paper's Algorithm 1 is written as
// Phi(z) < (n - s)/n over all n clients; that variant is `z_formula: "all"`.
// When s <= 0 (f is already a majority) the formula has no finite z: the attack then fails
// with an error asking for an explicit `z`.
//
// Parameters:
//   z          explicit z (overrides the formula; any finite number)
//   z_formula  "benign" (default) or "all" (see above)
//   direction  "minus" (default, mu - z sigma as in PAPERS.md) or "plus" (mu + z sigma, the sign
//              some implementations use)
//   ddof       1 (default: unbiased sample std, as torch.std) or 0 (population std)
// info: z, s, z_formula, direction.
// Needs 2 benign updates (a standard deviation).
#include <cmath>
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput alie(Params& p, const AttackInput& in) {
  const bool explicit_z = p.has("z");
  double z = p.number("z", 0.0);
  const std::string formula = p.choice("z_formula", "benign", {"benign", "all"});
  const std::string direction = p.choice("direction", "minus", {"minus", "plus"});
  const std::uint64_t ddof = p.count("ddof", 1);
  FEDGUARD_EXPECTS(ddof <= 1, "attack 'alie': parameter 'ddof' must be 0 or 1, got " << ddof);
  p.finish();
  const std::size_t n = validate("alie", in, Needs{2, false, false});
  AttackOutput out = make_output(in);

  const double nd = static_cast<double>(n), fd = static_cast<double>(in.n_malicious);
  const double s = std::floor(nd / 2.0 + 1.0) - fd;
  if (!explicit_z) {
    FEDGUARD_EXPECTS(s > 0, "attack 'alie': s = floor(n/2 + 1) - f = "
                                << s << " for n=" << n << ", f=" << in.n_malicious
                                << ": the attackers already hold a majority and "
                                   "z_max is unbounded; pass an explicit 'z'");
    const double cdf = formula == "benign" ? (nd - fd - s) / (nd - fd) : (nd - s) / nd;
    FEDGUARD_EXPECTS(cdf > 0 && cdf < 1, "attack 'alie': Phi(z) = " << cdf << " for n=" << n
                                                                    << ", f=" << in.n_malicious
                                                                    << " has no finite z");
    z = normal_quantile(cdf);
  }
  out.info["z"] = z;
  out.info["s"] = s;
  out.info["z_formula"] = explicit_z ? "explicit" : formula;
  out.info["direction"] = direction;
  if (in.n_malicious == 0) return out;

  const double signed_z = direction == "minus" ? -z : z;
  std::size_t clamped = 0;
  std::vector<double> mean, sd;
  for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
    mean.resize(j1 - j0);
    sd.resize(j1 - j0);
    column_stats(in, j0, j1, ddof, mean.data(), sd.data());
    for (std::size_t j = j0; j < j1; ++j)
      out.updates[j] = to_float(mean[j - j0] + signed_z * sd[j - j0], &clamped);
  });
  replicate_first_row(out);
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
