// Prometheus text exposition (format 0.0.4) of a round's metrics and the detectors' alert
// counts, for the node_exporter textfile collector (`fedguard round --metrics-prom FILE`) and
// for the Python pull endpoint (fedguard.monitoring.serve), which exposes the same names.
// Debian 12 has no prometheus-cpp; the text format is a few lines per metric.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fedguard/monitoring.h"
#include "monitor/monitor.h"

namespace fedguard::monitor {

/// HELP text of a metric key (docs/monitoring.md, "Metrics").
std::string metric_help(const std::string& key);

/// The exposition: fedguard_round, one gauge fedguard_<key> per finite metric, and per
/// configured detector fedguard_alerts_total{metric,method} (alarms since the state began) and
/// fedguard_alert{metric,method} (1 when it fired this round).
std::string prometheus_text(const std::map<std::string, double>& metrics,
                            const std::vector<Alert>& alerts, const MonitoringConfig& config,
                            const MonitorState& state, std::uint64_t round);

/// Writes text to PATH.tmp and renames it over path (the textfile collector must never read a
/// half-written file). Throws kIo naming the path.
void write_text_atomically(const std::string& path, const std::string& text);

}  // namespace fedguard::monitor
