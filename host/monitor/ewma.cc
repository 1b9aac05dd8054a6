// EWMA control chart. S. W. Roberts, "Control Chart Tests Based on Geometric Moving Averages",
// Technometrics 1 (1959); limits and run lengths as in J. M. Lucas and M. S. Saccucci,
// "Exponentially Weighted Moving Average Control Schemes", Technometrics 32 (1990):
//   w_t = lambda z_t + (1 - lambda) w_{t-1},  w_0 = 0 (the baseline mean),
//   alarm when |w_t| > L sqrt(lambda / (2 - lambda) (1 - (1 - lambda)^(2t))) (the exact,
//   time-varying limits, so an early large shift is caught at once).
// Parameters: lambda (default 0.2) and L (default 4.0). ARL0 (simulated, docs/monitoring.md):
// 549 at L = 3.0 (Lucas and Saccucci tabulate about 560; tests check by simulation), 2.0e4 at
// the default L = 4.0.
#include <cmath>

#include "monitor/detector.h"

namespace fedguard::monitor {

TestStep ewma_step(const DetectorSpec& spec, DetectorState& s, double z) {
  const double lambda = spec.params.at("lambda"), L = spec.params.at("L");
  s.s_up = lambda * z + (1 - lambda) * s.s_up;
  const double t = static_cast<double>(s.n);
  const double limit = L * std::sqrt(lambda / (2 - lambda) * (1 - std::pow(1 - lambda, 2 * t)));
  TestStep r;
  r.threshold = limit;
  r.up = s.s_up >= 0;
  r.statistic = std::fabs(s.s_up);  // the side says which way
  r.alarm =
      (spec.direction != "down" && s.s_up > limit) || (spec.direction != "up" && s.s_up < -limit);
  return r;
}

}  // namespace fedguard::monitor
