// Fang et al.'s full-knowledge attack on trimmed mean and on coordinate-wise median.
// Fang, Cao, Jia, Gong, "Local Model Poisoning Attacks to Byzantine-Robust Federated Learning",
// USENIX Security 2020 (Section 3.4; the same attack serves both rules).
//
// Per coordinate j: s_j = sign of the benign mean update (the direction the global parameter
// moves without attack), w_max,j and w_min,j the largest and smallest benign values. The
// attackers push against s_j:
//   s_j > 0: values in [w_min,j / b, w_min,j] if w_min,j > 0, else in [b w_min,j, w_min,j]
//   s_j < 0: values in [w_max,j, b w_max,j]  if w_max,j > 0, else in [w_max,j, w_max,j / b]
// so every malicious value lies beyond the benign extreme on the side opposite to s_j, by at
// most a factor b. The paper draws each malicious client's value uniformly in that interval
// (default here); `sample: false` sends the far end of the interval (w_min/b, b w_min, b w_max,
// w_max/b: the values PAPERS.md lists, and what several implementations do). Where the benign
// mean is exactly 0 the attackers send that mean.
//
// Space: the paper states the rule for model parameters w_i = w_global + u_i (the sign tests of
// w_max and w_min are on parameters). With `global_model` given (space "auto", the default, or
// "model") fedguard applies it to the models and returns w'_i - w_global; without it (or with
// space "update") it applies the rule to the updates directly, as update-based implementations
// do. info["space"] says which ran.
// Knowledge: the benign updates.
//
// Parameters:
//   b       2 (the paper's choice; must be > 1)
//   sample  true (uniform in the interval, counter-based draws from (seed, round, i, j))
//   space   "auto" (default), "model", "update"
// info: b, sample, space.
#include <algorithm>
#include <vector>

#include "attacks/attack.h"
#include "fedguard/error.h"

namespace fedguard::attacks {

AttackOutput fang_trim(Params& p, const AttackInput& in) {
  const double b = p.number("b", 2.0);
  FEDGUARD_EXPECTS(b > 1, "attack 'fang_trim': parameter 'b' must be > 1, got " << b);
  const bool sample = p.boolean("sample", true);
  std::string space = p.choice("space", "auto", {"auto", "model", "update"});
  p.finish();
  validate("fang_trim", in, Needs{1, false, space == "model"});
  if (space == "auto") space = in.global_model ? "model" : "update";
  const bool model_space = space == "model";
  AttackOutput out = make_output(in);
  out.info["b"] = b;
  out.info["sample"] = sample;
  out.info["space"] = space;
  if (in.n_malicious == 0) return out;

  const Rng rng(in.seed, in.round, "fang_trim");
  std::size_t clamped = 0;
  std::vector<double> mean, lo, hi;
  for_each_tile(in.d, in.n_benign, [&](std::size_t j0, std::size_t j1) {
    const std::size_t w = j1 - j0;
    mean.resize(w);
    column_stats(in, j0, j1, 0, mean.data(), nullptr);
    lo.assign(w, HUGE_VAL);
    hi.assign(w, -HUGE_VAL);
    for (std::size_t i = 0; i < in.n_benign; ++i) {
      const float* row = in.benign + i * in.d + j0;
      for (std::size_t j = 0; j < w; ++j) {
        lo[j] = std::min(lo[j], static_cast<double>(row[j]));
        hi[j] = std::max(hi[j], static_cast<double>(row[j]));
      }
    }
    for (std::size_t j = 0; j < w; ++j) {
      const double g = model_space ? static_cast<double>(in.global_model[j0 + j]) : 0.0;
      const double w_min = lo[j] + g, w_max = hi[j] + g;
      double near = 0, far = 0;  // the interval [near, far] or [far, near]
      if (mean[j] > 0) {
        near = w_min;
        far = w_min > 0 ? w_min / b : b * w_min;
      } else if (mean[j] < 0) {
        near = w_max;
        far = w_max > 0 ? b * w_max : w_max / b;
      }
      for (std::size_t i = 0; i < in.n_malicious; ++i) {
        double v;
        if (mean[j] == 0)
          v = mean[j] + g;
        else if (!sample)
          v = far;
        else
          v = near + (far - near) * rng.uniform(i * in.d + j0 + j);
        out.updates[i * in.d + j0 + j] = to_float(v - g, &clamped);
      }
    }
  });
  out.info["clamped"] = clamped;
  return out;
}

}  // namespace fedguard::attacks
