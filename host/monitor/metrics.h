// Per-round metrics (docs/monitoring.md, "Metrics"), computed from what the round result
// already holds: no extra pass over the updates. The only O(d) work is one pass over this
// round's aggregate and the previous one (norm and cosine, float64), which may also write the
// state's copy of the aggregate (MetricContext::aggregate_copy).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fedguard/round.h"

namespace fedguard::monitor {

/// Linear-interpolation quantile (numpy's default, "type 7") of the finite values; NaN when
/// there are none.
double quantile(std::vector<double> values, double q);

/// What the metrics need beyond the result.
struct MetricContext {
  const std::vector<std::string>* client_ids = nullptr;    ///< the round's ids (empty: "0", ...)
  const std::vector<float>* previous_aggregate = nullptr;  ///< null / empty / other d: no cosine
  std::size_t new_clients = 0;                             ///< ids never seen before this round
  const std::map<std::string, double>* server_metrics = nullptr;  ///< name -> value (unprefixed)
  /// Rejections counted by reason code and by "rule_<rule>" (the engine's structured
  /// rejections); null: counted from the reason texts' first words.
  const std::map<std::string, double>* rejected_by = nullptr;
  /// Threads for the pass over the aggregates (0: every core); the sums are taken by blocks of
  /// 2^16 values combined in block order, so the metrics do not depend on it.
  int threads = 1;
  /// The round's last pass ran on a team of threads just before (Backend::last_pass_threads):
  /// they are still spinning, so even a short pass over the aggregates may use them.
  bool team_warm = false;
  /// Where the pass over the aggregate also copies it (d floats: the state's next previous
  /// aggregate, written while the pass reads it anyway), or null.
  float* aggregate_copy = nullptr;
};

/// The round's metrics, keyed by name (Prometheus-compatible: [a-z0-9_]). A value may be NaN
/// where the input was (a server metric): the monitor refuses those.
std::map<std::string, double> round_metrics(const RoundResult& result,
                                            const MetricContext& context);

/// true when `name` may name a server metric: [a-z][a-z0-9_]{0,63}.
bool valid_metric_name(const std::string& name);

/// The reason code of a rejection text ("<code>", "<code>: <detail>" or "vote W of T ...": up to
/// the first ':' or space).
std::string reason_code(const std::string& reason);

}  // namespace fedguard::monitor
