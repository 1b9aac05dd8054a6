// Offline forensics (`fedguard scan`, docs/forensics.md): one or several policies over every
// round of an update log, in order, each with its own Engine (so history rules and centred
// clipping see the rounds as a server would have). Rounds are streamed: one round's file is
// mapped at a time and unmapped before the next. A round that cannot be read, or that a policy
// fails on, is recorded with its error and the scan goes on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fedguard/config.h"

namespace fedguard::forensics {

struct PolicySpec {
  std::string name;  ///< shown in the report (the config file's stem by default)
  EngineConfig config;
};

enum class ProgressMode { kAuto, kBar, kLines, kNone };

struct ScanOptions {
  std::string log_dir;
  std::string out_dir;  ///< empty: write nothing (the summary is still returned)
  std::vector<PolicySpec> policies;
  bool layer_scores = true;
  ProgressMode progress = ProgressMode::kAuto;
  std::FILE* progress_stream = stderr;
};

/// What one policy did in one round.
struct PolicyRound {
  bool ok = false;
  std::string error;
  std::vector<std::uint8_t> accepted;
  std::map<std::string, std::vector<double>> scores;
  std::map<std::size_t, std::string> reasons;
  double ms = 0;
  std::map<std::string, double> metrics;  ///< monitoring (docs/monitoring.md)
  std::vector<Alert> alerts;
};

/// One round of the log as scanned.
struct ScannedRound {
  std::size_t index = 0;  ///< position in the log
  std::size_t round = 0;  ///< the round number the file states
  std::string file;
  bool ok = false;  ///< read and validated
  std::string error;
  std::vector<std::string> warnings;
  std::vector<std::string> client_ids;
  bool has_ground_truth = false;
  std::vector<std::uint8_t> malicious;  ///< per client, with ground truth
  std::size_t n = 0, d = 0, bytes = 0;
  std::vector<PolicyRound> policies;  ///< parallel to ScanSummary::policies
  /// Layer scores of this round: [layer][client] (empty when not computed).
  std::vector<std::string> layers;
  std::vector<std::vector<double>> layer_median_distance, layer_norm_z;
};

struct PolicySummary {
  std::string name;
  nlohmann::json config;
  std::vector<std::string> detectors;  ///< score keys seen, sorted
};

struct ScanSummary {
  std::string log_dir;
  std::vector<PolicySummary> policies;
  std::vector<ScannedRound> rounds;
  bool has_ground_truth = false;  ///< some round has ground truth
  std::size_t bad_rounds = 0;
  double seconds = 0;       ///< wall time of the scan (reading + policies + layer scores)
  double read_seconds = 0;  ///< mapping and validating files
  std::size_t bytes = 0;    ///< update bytes scanned
};

/// Runs the scan, writing (when out_dir is set) rounds.jsonl, clients.csv and report.html
/// (compare mode: one folder per policy with rounds.jsonl and clients.csv, plus comparison.json
/// and one report.html). Throws only when the log directory or manifest cannot be read or the
/// outputs cannot be written.
ScanSummary run_scan(const ScanOptions& options);

/// Which way a detector's score points: true when a higher score is more suspicious.
bool higher_is_suspicious(const std::string& detector);

/// ROC of scores against labels (1 = malicious), oriented so that suspicious is high. Points
/// (fpr, tpr) from (0,0) to (1,1); AUC by the Mann-Whitney statistic (ties count one half).
struct Roc {
  std::vector<double> fpr, tpr;
  double auc = 0;
  std::size_t positives = 0, negatives = 0;
};
Roc roc_curve(const std::vector<double>& scores, const std::vector<std::uint8_t>& labels,
              bool higher_suspicious);

/// Per-client statistics of one policy, as written to clients.csv.
struct ClientStats {
  std::string id;
  std::size_t rounds_seen = 0, times_rejected = 0, malicious_rounds = 0;
  bool rejected_ever = false;
  std::size_t first_rejection = 0;  ///< round number, valid when rejected_ever
  std::map<std::string, double> score_sum;
  std::map<std::string, std::size_t> score_count;
};
std::vector<ClientStats> client_stats(const ScanSummary& summary, std::size_t policy);

/// Policies side by side: per pair, the fraction of client-rounds (both policies succeeded) on
/// which they agree; per policy, TPR/FPR with ground truth; per malicious client, how often each
/// policy rejected it ("which caught whom").
nlohmann::json compare_policies(const ScanSummary& summary);

/// TPR / FPR of a policy's rejections against ground truth, over client-rounds with ground truth.
struct Confusion {
  std::size_t tp = 0, fp = 0, tn = 0, fn = 0;
  double tpr() const {
    return tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
  }
  double fpr() const {
    return fp + tn ? static_cast<double>(fp) / static_cast<double>(fp + tn) : 0.0;
  }
};
Confusion policy_confusion(const ScanSummary& summary, std::size_t policy);

/// The self-contained HTML page (inline SVG, no scripts or external resources).
std::string render_report(const ScanSummary& summary);

}  // namespace fedguard::forensics
