// Two-sided tabular CUSUM. E. S. Page, "Continuous Inspection Schemes", Biometrika 41 (1954);
// the tabular form of D. C. Montgomery, "Introduction to Statistical Quality Control", 6.2:
//   S+_t = max(0, S+_{t-1} + z_t - k),   S-_t = max(0, S-_{t-1} - z_t - k),
// alarm when S+ > h (up) or S- > h (down); z in baseline-scale units. Parameters: k (the
// reference value, half the shift to detect fastest; default 0.5) and h (the decision
// interval; default 10). In-control run length (ARL0) by Siegmund's approximation, one side:
// (exp(2kb) - 2kb - 1) / (2k^2), b = h + 1.166; both sides: half of that for k = 0.5 (the two
// one-sided runs combine as 1/ARL = 1/ARL+ + 1/ARL-): 169 at h = 4, 7.1e4 at h = 10
// (tests/monitor/detectors_test.cc checks h = 4 by simulation; docs/monitoring.md).
#include <algorithm>

#include "monitor/detector.h"

namespace fedguard::monitor {

TestStep cusum_step(const DetectorSpec& spec, DetectorState& s, double z) {
  const double k = spec.params.at("k"), h = spec.params.at("h");
  s.s_up = std::max(0.0, s.s_up + z - k);
  s.s_down = std::max(0.0, s.s_down - z - k);
  TestStep t;
  t.threshold = h;
  const bool up = spec.direction != "down" && s.s_up > h;
  const bool down = spec.direction != "up" && s.s_down > h;
  t.alarm = up || down;
  t.up = up || (!down && s.s_up >= s.s_down);
  t.statistic = t.up ? s.s_up : s.s_down;
  return t;
}

}  // namespace fedguard::monitor
