// What a round takes and what it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fedguard/monitoring.h"
#include "fedguard/update_view.h"

namespace fedguard {

struct RoundInput {
  UpdateView updates;
  /// One id per row; empty means "0", "1", ... Duplicates follow EngineConfig::duplicate_ids.
  std::vector<std::string> client_ids;
  /// FedAvg weights (samples per client); empty means uniform. A value that is not finite
  /// and > 0 rejects that client (reason `invalid_num_samples`).
  std::vector<double> num_samples;
  /// The server's reference update (FLTrust's root-data update): d float32 values in host
  /// memory, or null. Rules that need it fail the round when it is missing.
  const float* reference = nullptr;
  /// Metrics the server measured itself (validation loss / accuracy on its own data), by name
  /// ([a-z][a-z0-9_]*, at most 64 characters): reported as "server_<name>" in
  /// RoundResult::metrics and fed to the detectors of that name. A value that is not finite is
  /// refused (RoundResult::metrics_refused), not fed.
  std::map<std::string, double> server_metrics;
};

struct RoundResult {
  std::size_t n = 0;
  std::size_t d = 0;
  /// accepted[i] != 0 when client i survived every filter and the aggregator used it.
  std::vector<std::uint8_t> accepted;
  /// For linear rules (linear == true) the exact coefficient of each update in the aggregate;
  /// for coordinate-wise rules uniform over the accepted clients.
  std::vector<double> weights;
  bool linear = true;
  /// Coefficients of vectors other than this round's updates (centred clipping's previous
  /// aggregate, the zero vector at the first round). With no clipping transform before the
  /// aggregator, weights plus these sum to 1; clipping scales coefficients down.
  std::map<std::string, double> reference_weights;
  /// Standard deviation of the Gaussian noise added to every coordinate of the aggregate
  /// (FLAME), 0 when none was added.
  double noise_sigma = 0;
  /// Per rule, one score per client; NaN for a client the rule never saw.
  std::map<std::string, std::vector<double>> scores;
  /// Why each rejected client was rejected: "<reason>" or "<rule>: <detail>".
  std::map<std::size_t, std::string> reasons;
  /// The aggregated update, d floats.
  std::vector<float> aggregate;
  /// Wall time per stage in milliseconds, in execution order.
  std::vector<std::pair<std::string, double>> timings_ms;
  /// Monitoring (docs/monitoring.md; empty when EngineConfig::monitoring is off): the round's
  /// metrics by name, the change-point alerts raised in this round (empty when none), and the
  /// metrics that were not finite and so not fed to any detector.
  std::map<std::string, double> metrics;
  std::vector<Alert> alerts;
  std::vector<std::string> metrics_refused;

  /// The fields above except the aggregate, as JSON (NaN scores and metrics become null).
  /// Keys keep the order above; timings_ms keeps execution order.
  nlohmann::ordered_json to_json() const;
};

}  // namespace fedguard
