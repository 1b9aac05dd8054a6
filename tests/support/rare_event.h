// Calibration tests count how often a signal fires on attack-free rounds and compare the count
// with a rate. A bound on the count itself ("at most 1% of the trials") fails by chance whenever
// the true rate is near the bound: with 200 trials at a true rate of 0.35%, three firings (over
// 1%) come in 3% of the runs. These helpers state the bound as a test of the rate: the count is
// consistent with a rate when the binomial probability of at least that many firings at that
// rate is at least a level (1e-4 by default), so the assertion fails by chance at most that
// often when the true rate is the stated one (less when it is lower), and fails when the count
// shows the rate clearly above it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

namespace fedguard::test {

/// P(X >= fired) for X ~ Binomial(trials, rate), summed term by term in float64 (written here,
/// apart from the engine's detection::binomial_upper_tail, which calibrates the group signals).
inline double binomial_tail_at_least(std::size_t fired, std::size_t trials, double rate) {
  if (fired == 0) return 1.0;
  if (fired > trials || !(rate > 0)) return 0.0;
  if (rate >= 1) return 1.0;
  double sum = 0;
  const double t = static_cast<double>(trials);
  for (std::size_t k = fired; k <= trials; ++k) {
    const double kd = static_cast<double>(k);
    sum += std::exp(std::lgamma(t + 1) - std::lgamma(kd + 1) - std::lgamma(t - kd + 1) +
                    kd * std::log(rate) + (t - kd) * std::log1p(-rate));
  }
  return std::min(sum, 1.0);
}

/// Whether `fired` firings in `trials` independent trials are consistent with a per-trial rate of
/// at most `rate` at the given level.
inline bool consistent_with_rate(std::size_t fired, std::size_t trials, double rate,
                                 double level = 1e-4) {
  return binomial_tail_at_least(fired, trials, rate) >= level;
}

/// The message of a failed consistent_with_rate.
inline std::string rate_message(std::size_t fired, std::size_t trials, double rate) {
  return std::to_string(fired) + " of " + std::to_string(trials) + " fired: P(at least that many " +
         "at a rate of " + std::to_string(rate) +
         ") = " + std::to_string(binomial_tail_at_least(fired, trials, rate));
}

}  // namespace fedguard::test
