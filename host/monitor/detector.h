// Change-point detectors on one metric's stream of values (docs/monitoring.md, "Detectors"):
// a warm-up that estimates the metric's baseline robustly, then one of three classical
// sequential tests on the standardised values z = (x - mean) / scale, all state in float64.
//   cusum.cc         two-sided tabular CUSUM (Page 1954)
//   page_hinkley.cc  Page-Hinkley test with a running mean (Page 1954; Hinkley 1971), as river
//   ewma.cc          EWMA control chart with time-varying limits (Roberts 1959)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fedguard/monitoring.h"

namespace fedguard::monitor {

/// Everything one detector carries from round to round. All float64; written to the state
/// file exactly (state_to_json / state_from_json).
struct DetectorState {
  std::vector<double> warmup;  ///< values seen before the baseline was fixed
  bool ready = false;          ///< baseline estimated (or fixed): the test runs
  double mean = 0, scale = 1;  ///< the baseline
  std::uint64_t n = 0;         ///< values tested since the start or the last alarm
  // CUSUM: s_up = S+, s_down = S-. Page-Hinkley: s_up / s_down the increase / decrease sums,
  // run_mean their running mean, extreme_up / extreme_down the min / max of the sums.
  // EWMA: s_up is the smoothed value.
  double s_up = 0, s_down = 0;
  double run_mean = 0, extreme_up = 0, extreme_down = 0;
  std::uint64_t alarms = 0;  ///< alarms raised so far
  std::uint64_t values = 0;  ///< values fed so far (warm-up included)

  bool operator==(const DetectorState& o) const;
  nlohmann::json to_json() const;
  /// Throws kIo with `where` in the message when a field is missing or not a finite number.
  static DetectorState from_json(const nlohmann::json& j, const std::string& where);
};

/// A test's verdict on one standardised value.
struct TestStep {
  bool alarm = false;
  bool up = true;  ///< which side crossed (or, without an alarm, the larger statistic)
  double statistic = 0;
  double threshold = 0;
};

/// Feeds one finite value (throws kInvalidInput for NaN / Inf: the caller refuses those).
/// During warm-up the value is stored; the last warm-up value fixes the baseline. After an
/// alarm the test restarts (the baseline is kept). Returns the alert when the test fires.
std::optional<Alert> feed(const DetectorSpec& spec, DetectorState& state, double x,
                          std::uint64_t round);

/// The baseline of `values` (not empty, in round order): mean and standard deviation (n - 1)
/// of the values within 3.5 x 1.4826 x MAD of the median, the standard deviation times
/// sqrt((1 + r) / (1 - r)) with r the lag-1 autocorrelation (clamped to [0, 0.8]), the scale
/// floored at `min_scale` (0: 1e-9 x max(1, |median|)).
void robust_baseline(std::vector<double> values, double min_scale, double& mean, double& scale);

// The tests, on standardised values z (state.n already counts z).
TestStep cusum_step(const DetectorSpec& spec, DetectorState& state, double z);
TestStep page_hinkley_step(const DetectorSpec& spec, DetectorState& state, double z);
TestStep ewma_step(const DetectorSpec& spec, DetectorState& state, double z);
/// Restarts the test's statistics (after an alarm): keeps the baseline and the counters.
void restart_test(DetectorState& state);

/// A following baseline's step after value x was tested (docs/monitoring.md): scale^2 =
/// (1 - scale_lambda) scale^2 + scale_lambda min((x - mean)^2, 9 scale^2), at least `floor`,
/// then mean += baseline_lambda (x - mean). The metric detectors' and the client monitor's rule.
void follow_baseline(DetectorState& state, double x, double baseline_lambda, double scale_lambda,
                     double floor);

/// The parameter names and defaults of a method; throws kInvalidInput for an unknown method.
const std::vector<std::pair<std::string, double>>& method_parameters(const std::string& method);

}  // namespace fedguard::monitor
