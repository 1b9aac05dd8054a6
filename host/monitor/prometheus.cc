#include "monitor/prometheus.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/regular_file.h"
#include "fedguard/error.h"

namespace fedguard::monitor {
namespace {

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Label values: backslash, double quote and newline escaped (the format's only escapes).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string metric_help(const std::string& key) {
  static const std::map<std::string, std::string> fixed = {
      {"clients", "Updates in the round."},
      {"accepted", "Clients accepted in the round."},
      {"rejected", "Clients rejected in the round."},
      {"rejected_fraction", "Share of the round's clients rejected."},
      {"aggregate_norm", "L2 norm of the round's aggregate."},
      {"previous_aggregate_norm", "L2 norm of the previous round's aggregate."},
      {"aggregate_cosine", "Cosine between this round's aggregate and the previous one."},
      {"new_client_fraction", "Share of the round's client ids never seen before."},
      {"detect_baseline_widened", "Clients judged with their own norm or sign baseline."},
      {"detect_baseline_spared",
       "Clients beyond the round's norm or sign cut kept by their own baseline."},
      {"detect_norm_loners", "Loners whose norm alone fired, judged by the other signals instead."},
  };
  const auto it = fixed.find(key);
  if (it != fixed.end()) return it->second;
  if (starts_with(key, "rejected_"))
    return "Clients rejected with reason " + key.substr(9) + " in the round.";
  if (starts_with(key, "norm_"))
    return "Quantile or extreme (" + key.substr(5) + ") of the update norms.";
  if (starts_with(key, "reputation_"))
    return "Quantile or extreme (" + key.substr(11) + ") of the reputations.";
  if (starts_with(key, "score_"))
    return "Quantile or extreme of a detector's per-client score (" + key.substr(6) + ").";
  if (starts_with(key, "stage_")) return "Wall time of an engine stage in the round.";
  if (starts_with(key, "server_")) return "Metric supplied by the server (" + key.substr(7) + ").";
  return "fedguard round metric " + key + ".";
}

std::string prometheus_text(const std::map<std::string, double>& metrics,
                            const std::vector<Alert>& alerts, const MonitoringConfig& config,
                            const MonitorState& state, std::uint64_t round) {
  std::ostringstream out;
  out << "# HELP fedguard_round Index of the round these metrics describe (0-based, counted by the "
         "engine state).\n"
      << "# TYPE fedguard_round gauge\nfedguard_round " << round << "\n";
  for (const auto& [key, value] : metrics) {
    if (!std::isfinite(value)) continue;  // refused: not exposed
    out << "# HELP fedguard_" << key << " " << metric_help(key) << "\n# TYPE fedguard_" << key
        << " gauge\nfedguard_" << key << " " << number(value) << "\n";
  }
  if (!config.detectors.empty()) {
    out << "# HELP fedguard_alerts_total Alerts raised by a change-point detector since its state "
           "began.\n"
        << "# TYPE fedguard_alerts_total counter\n";
    for (const DetectorSpec& s : config.detectors) {
      const auto it = state.detectors.find(s.key());
      out << "fedguard_alerts_total{metric=\"" << label(s.metric) << "\",method=\"" << s.method
          << "\"} " << (it == state.detectors.end() ? 0 : it->second.alarms) << "\n";
    }
    out << "# HELP fedguard_alert 1 when the change-point detector raised an alert in this round.\n"
        << "# TYPE fedguard_alert gauge\n";
    for (const DetectorSpec& s : config.detectors) {
      bool fired = false;
      for (const Alert& a : alerts) fired = fired || (a.metric == s.metric && a.method == s.method);
      out << "fedguard_alert{metric=\"" << label(s.metric) << "\",method=\"" << s.method << "\"} "
          << (fired ? 1 : 0) << "\n";
    }
  }
  if (config.clients.enabled && !config.clients.signals.empty()) {
    // Per-client monitoring: alerts of this round by signal (a gauge: forgotten clients take
    // their counts with them, so no counter over time).
    out << "# HELP fedguard_client_alerts Client-level alerts (per-client monitoring) raised in "
           "this round.\n"
        << "# TYPE fedguard_client_alerts gauge\n";
    for (const std::string& signal : config.clients.signals) {
      std::size_t count = 0;
      for (const Alert& a : alerts) count += !a.client.empty() && a.metric == "client_" + signal;
      out << "fedguard_client_alerts{metric=\"client_" << label(signal)
          << "\",method=\"group_cusum\"} " << count << "\n";
    }
  }
  return out.str();
}

void write_text_atomically(const std::string& path, const std::string& text) {
  expect_replaceable(path);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) FEDGUARD_THROW(kIo, tmp << ": cannot open for writing");
    f << text;
    f.flush();
    if (!f) FEDGUARD_THROW(kIo, tmp << ": write failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    FEDGUARD_THROW(kIo, path << ": cannot replace with the new file");
  }
}

}  // namespace fedguard::monitor
