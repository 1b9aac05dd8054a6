// The warm-up's baseline. Robust and efficient: the median and the MAD (1.4826 x MAD estimates
// the standard deviation of Gaussian data) find the bulk of the values; values more than 3.5
// such scales from the median (an early attack, a slow straggler) are set aside, and the mean
// and standard deviation of the rest are the baseline. The MAD alone is robust but noisy (its
// relative standard error is about 1.65x that of the standard deviation), and a scale
// underestimated by 25 % cuts a CUSUM's in-control run length by more than ten times; the
// standard deviation of the trimmed values keeps the robustness and loses less.
//
// Then the scale becomes a long-run one: metrics of successive rounds are correlated (the cosine
// between successive aggregates shares an aggregate with its neighbour: lag-1 autocorrelation
// about 0.4 on the synthetic federations of tests/monitor/scenarios_test.cc), and a positively
// correlated series wanders further than its standard deviation says, which multiplies a CUSUM's
// or an EWMA's false alarms (an EWMA at nominal ARL0 2e4 alarmed every ~100 rounds there). Under
// an AR(1) approximation the long-run standard deviation is sd sqrt((1 + r) / (1 - r)), r the
// lag-1 autocorrelation of the warm-up values in their order (values beyond the cut clipped to
// it), clamped to [0, 0.8] (r from 20-30 values is noisy; negative r would shrink the scale).
#include <algorithm>
#include <cmath>

#include "common/median.h"
#include "fedguard/error.h"
#include "monitor/detector.h"

namespace fedguard::monitor {
void robust_baseline(std::vector<double> values, double min_scale, double& mean, double& scale) {
  FEDGUARD_EXPECTS(!values.empty(), "a baseline needs at least one value");
  std::vector<double> dev = values;
  const double median = median_in_place(dev);
  for (double& v : dev) v = std::fabs(v - median);
  const double mad = median_in_place(dev);
  const double floor = min_scale > 0 ? min_scale : 1e-9 * std::max(1.0, std::fabs(median));
  const double cut = 3.5 * std::max(1.4826 * mad, floor);
  double sum = 0, count = 0;
  for (double v : values)
    if (std::fabs(v - median) <= cut) sum += v, count += 1;
  mean = sum / count;  // count >= 1: at least half the values are within the MAD of the median
  double ss = 0;
  for (double v : values)
    if (std::fabs(v - median) <= cut) ss += (v - mean) * (v - mean);
  const double sd = count > 1 ? std::sqrt(ss / (count - 1)) : 0;
  double num = 0, den = 0;
  for (std::size_t t = 0; t < values.size(); ++t) {
    const double x = std::clamp(values[t], median - cut, median + cut) - mean;
    den += x * x;
    if (t + 1 < values.size())
      num += x * (std::clamp(values[t + 1], median - cut, median + cut) - mean);
  }
  const double r = den > 0 ? std::clamp(num / den, 0.0, 0.8) : 0.0;
  scale = std::max(sd * std::sqrt((1 + r) / (1 - r)), floor);
}

}  // namespace fedguard::monitor
