// Continuous monitoring (docs/monitoring.md): per-round metrics, change-point detectors on them
// and the alerts they raise. The detectors live in host/monitor/; these are the types a caller
// configures and reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fedguard {

/// One change-point detector on one metric. Parameters are in units of the metric's own scale,
/// estimated robustly during the warm-up from the first `warmup` values: the mean and standard
/// deviation of those within 3.5 x 1.4826 x MAD of their median, the latter made a long-run
/// scale with their lag-1 autocorrelation (monitor/baseline.cc).
struct DetectorSpec {
  std::string metric;  ///< a key of RoundResult::metrics, e.g. "aggregate_norm"
  /// "cusum" (two-sided tabular CUSUM: k, h), "page_hinkley" (delta, lambda, alpha,
  /// min_instances) or "ewma" (lambda, L).
  std::string method;
  /// The method's parameters; parse / defaults fill in every one the method has.
  std::map<std::string, double> params;
  /// "up", "down" or "both": which direction of change raises an alert.
  std::string direction = "both";
  /// Values used to estimate the baseline before the detector runs (>= 2 unless a fixed
  /// baseline is given; 0 with a fixed baseline).
  std::size_t warmup = 20;
  /// Fixed baseline (no warm-up): the metric's in-control mean and scale.
  bool fixed_baseline = false;
  double baseline_mean = 0, baseline_scale = 1;
  /// Smallest scale the warm-up may estimate (a metric constant during warm-up, e.g. a count
  /// of rejections that was always 0, would otherwise have scale 0). 0: 1e-9 x max(1, |median|).
  double min_scale = 0;
  /// After the warm-up the baseline may follow the metric (0: fixed, the default): after each
  /// tested value x, mean += baseline_lambda (x - mean), and scale^2 = (1 - scale_lambda)
  /// scale^2 + scale_lambda min((x - mean)^2, 9 scale^2) (before the mean moves; at least the
  /// floor above). A following baseline absorbs a slow benign trend (a converging model's
  /// successive aggregates turning less alike) and still sees a change faster than its time
  /// constant 1 / baseline_lambda. Both in [0, 1).
  double baseline_lambda = 0, scale_lambda = 0;

  /// "metric/method": the detector's key in the state and in alerts' ids.
  std::string key() const { return metric + "/" + method; }
};

/// Client-level monitoring (docs/monitoring.md, "Per-client monitoring"): each client's own
/// stream of detection-signal z values (RoundResult::scores "detect_<signal>") against the
/// client's own slowly adapting baseline, standardised by how far all the round's clients moved
/// from theirs, accumulated by a one-sided CUSUM per client; an alert when at least `min_group`
/// clients have crossed `h` on the same signal and side in the same round (several clients
/// drifting the same way at once: collusion over time). Parameters in units of the client's
/// own scale.
struct ClientMonitorSpec {
  bool enabled = true;
  /// Detection signals followed (those the policy's detection stage computes; absent ones are
  /// skipped): norm, direction, sign, spectral, collusion, history.
  std::vector<std::string> signals = {"norm", "direction", "sign", "spectral", "collusion"};
  double k = 0.5;             ///< CUSUM reference value
  double h = 14;              ///< CUSUM decision interval of each client
  std::size_t min_group = 3;  ///< clients that must cross h together (1: any client alone)
  /// A group is G = max(min_group, ceil(min_group_fraction x the clients tested on the signal
  /// in the round)) clients past h, or a smaller one of g >= min_group clients past h G / g
  /// (standing further out): in a large federation a few honest clients drift past h together
  /// by chance (at n = 200 three did so every ~10 rounds). In [0, 1].
  double min_group_fraction = 0.05;
  std::size_t warmup = 20;        ///< a client's first values of a signal fix its baseline (>= 2)
  double baseline_lambda = 0.05;  ///< the baseline mean follows the client's values (EWMA)
  double scale_lambda = 0.02;     ///< the baseline scale follows their squared deviations (EWMA)
  double min_scale = 0.25;        ///< smallest baseline scale, in units of the round's robust z
  /// A client not seen for more than this many rounds is forgotten (its baseline too).
  std::uint64_t forget_after = 100;
  /// At most this many clients are followed; beyond it the least recently seen are forgotten.
  std::size_t max_clients = 100000;
};

struct MonitoringConfig {
  /// Monitoring on: metrics computed, detectors run, state kept (previous aggregate too).
  bool enabled = true;
  /// The detectors; MonitoringConfig{} holds default_detectors().
  std::vector<DetectorSpec> detectors;
  /// Per-client change detection on the detection signals ("clients" in the policy JSON).
  ClientMonitorSpec clients;

  MonitoringConfig();
  /// The defaults (docs/monitoring.md, "Defaults"): aggregate norm and median client norm
  /// (CUSUM, up), rejected fraction (CUSUM, up), cosine of successive aggregates (EWMA, down),
  /// and where the server supplies them, server_loss (Page-Hinkley, up) and server_accuracy
  /// (Page-Hinkley, down).
  static std::vector<DetectorSpec> default_detectors();
  /// true / false, or {"enabled": bool, "detectors": [{"metric", "method", "direction",
  /// "warmup", "baseline": {"mean", "scale"}, "min_scale", <parameters>}, ...]}.
  static MonitoringConfig from_json(const nlohmann::json& value);
  nlohmann::json to_json() const;
  /// Throws fedguard::Error (invalid input) naming the detector and the parameter.
  void validate() const;
};

/// A detector's statistic crossed its threshold in this round.
struct Alert {
  std::string metric;
  std::uint64_t round = 0;  ///< the round index, as counted by the engine state (0-based)
  std::string method;
  std::string direction;  ///< "up" or "down": which side crossed
  double statistic = 0;
  double threshold = 0;
  double value = 0;  ///< the metric's value this round
  double baseline_mean = 0, baseline_scale = 1;
  /// Client-level alerts (metric "client_<signal>"): the client's id; empty otherwise.
  std::string client;

  nlohmann::ordered_json to_json() const;
};

}  // namespace fedguard
