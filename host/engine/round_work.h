// What one round carries from stage to stage (host/engine/stages.cc): the input, the
// rejections so far, the rows each stage passes on, the summaries and the decision. Stages
// read and extend it in order: validate -> verify -> scan -> detect -> decide -> aggregate ->
// record. Nothing in it outlives the round except `pending`, which the engine commits to its
// state only after every stage succeeded.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "engine/state_file.h"
#include "fedguard/rejection.h"
#include "fedguard/round.h"
#include "geometry/gram_space.h"
#include "monitor/monitor.h"
#include "policy/policy.h"
#include "rules/rule.h"

namespace fedguard::engine {

/// What a successful round adds to the engine state.
struct Pending {
  std::vector<std::pair<std::string, std::vector<double>>>
      sketches;                                          ///< client id, this round's sketch
  std::vector<double> aggregate_sketch;                  ///< empty: none
  std::map<std::string, std::vector<double>> suspicion;  ///< client id, new window
  std::map<std::string, double> outcome;                 ///< client id, reputation evidence
  std::vector<std::string> participants;  ///< ids of the scanned rows (memory without sketches)
  /// Per client id scanned this round (detection on, baseline_rate > 0): whether the round
  /// accepted it and, if so, its norm and sign z (NaN: not measured), for its own baselines.
  struct BaselineEvidence {
    bool accepted = false;
    double norm_z = 0, sign_z = 0;
  };
  std::map<std::string, BaselineEvidence> baseline;
  /// Per client id with a response this round (detection/response.h): its response z; the
  /// round's entry of the response window; whether each scanned client was accepted.
  std::map<std::string, double> response;
  std::optional<ResponseRound> response_round;
  std::map<std::string, bool> accepted_now;
  /// Followed pairs (detection/pair_persistence.h) by their ids: tracks with this round added,
  /// pairs no longer close (dropped after the updates), pairs to follow from the next round.
  std::map<std::pair<std::string, std::string>, detection::PairTrack> pair_tracks;
  std::set<std::pair<std::string, std::string>> pairs_dropped;
  std::vector<std::pair<std::string, std::string>> pairs_new;
  /// The round's aggregate (the next previous aggregate), when the state keeps one: copied at
  /// the commit into the state's buffer (the same d each round: no allocation).
  const std::vector<float>* aggregate = nullptr;
  /// The monitoring stage already copied the aggregate into the engine's spare buffer: the
  /// commit swaps that buffer with the state's instead of copying.
  bool aggregate_in_spare = false;
  std::size_t model_dim = 0;                    ///< the round's d (the state's model size)
  std::optional<monitor::Observation> monitor;  ///< the detectors after this round (monitoring on)
};

struct RoundWork {
  explicit RoundWork(const RoundInput& input) : in(input) {}
  const RoundInput& in;
  std::size_t n = 0, d = 0;
  RoundResult result;
  /// Rejections so far by code (or rule) name, for "needs more clients" messages.
  std::map<std::string, std::size_t> rejected_counts;

  /// validate/verify: the rows to scan, in row order. Summaries are indexed by position in it.
  std::vector<std::size_t> rows;
  /// scan: reference vectors (previous aggregate, server reference) and their roles.
  std::vector<const float*> references;
  policy::Policy::References roles;
  policy::Policy::SubsetPlan subsets;
  backend::ScanSummaries summaries;
  /// scan: pass 2 computed in pass 1's read, ahead of the decision (Backend::scan_with_statistic):
  /// the column statistic over every row of `rows`; used only when the policy's plan asks for
  /// exactly that (aggregate stage), else discarded.
  struct Speculation {
    bool done = false;
    backend::ColumnStatistic statistic = backend::ColumnStatistic::kMedian;
    std::size_t param = 0;
    std::vector<float> aggregate;
  } speculation;
  /// scan: positions (into rows) of the clients still in the round, ascending; the detect
  /// stage removes those it rejects.
  std::vector<std::size_t> alive;
  std::vector<double> sample_weight;   ///< per position
  std::vector<double> history;         ///< per position x sketch_dim, see RoundContext::history
  std::vector<double> detect_history;  ///< the detection stage's copy of history, per alive client
  std::size_t detected = 0;            ///< clients the detection stage rejected
  /// Per position: rejected by detection, yet the round builds the client's own baselines as
  /// an accepted one's (the norm's lower tail alone with baseline_small_norm, the sign balance
  /// alone with baseline_sign_only: detection::Finding).
  std::vector<std::uint8_t> builds_baseline;
  /// The detection stage's own-baseline counts (DetectionOutcome), for the metrics.
  std::size_t baseline_widened = 0, baseline_spared = 0;
  std::size_t norm_loners = 0;  ///< detection::DetectionOutcome::norm_loners
  rules::ClientMemory memory;
  policy::Decision decision;
  Pending pending;

  /// The geometry of pass 1's summaries, built once for the detect and decide stages.
  const geometry::GramSpace& space() {
    if (!space_) space_.emplace(summaries);
    return *space_;
  }
  std::optional<geometry::GramSpace> space_;

  /// Rejects row `row` (a row index, not a position).
  void reject(std::size_t row, ReasonCode code, std::string detail, std::string rule = {},
              std::map<std::string, double> values = {});
};

}  // namespace fedguard::engine
