// The stages of a round, in order. Each reads what the stages before it left in RoundWork
// and adds its own part; none touches the engine's state (the engine commits `pending` after
// the last stage succeeded, so a round that throws anywhere changes nothing).
#pragma once

#include "backend/backend.h"
#include "detection/workspace.h"
#include "engine/round_work.h"
#include "engine/state_file.h"
#include "fedguard/config.h"
#include "policy/policy.h"

namespace fedguard::engine {

/// What the stages may read of the engine (never write).
struct EngineView {
  const EngineConfig& config;
  backend::Backend& backend;
  const policy::Policy& policy;
  const EngineState& state;
  bool tracks_reputation = false;
  /// Client verification runs after validate (the engine holds a registry): duplicate ids are
  /// then decided by the verify stage (docs/verification.md), not by validate.
  bool verifies = false;
  /// Scratch the detection stage reuses between rounds (null: it allocates its own).
  detection::Workspace* detection_workspace = nullptr;
  /// Where this round's aggregate is copied for the state (null: the commit copies it): the
  /// engine's second buffer, swapped with the state's previous aggregate at the commit, so that
  /// a round that fails changes nothing.
  std::vector<float>* aggregate_spare = nullptr;
};

/// The record stage's monitoring step (docs/monitoring.md), after record_stage, with monitoring
/// on: the round's metrics from the result and one pass over this and the previous aggregate,
/// the detectors fed; their new states wait in w.pending.monitor for the commit.
void record_monitoring(const EngineView& e, RoundWork& w);

/// Shapes, ids, dtypes, lengths, sample counts: fills rows with the well-formed ones.
void validate_stage(const EngineView& e, RoundWork& w);
/// Pass 1 over rows: summaries, then non-finite and all-zero rows rejected; fills alive.
void scan_stage(const EngineView& e, RoundWork& w);
/// The clients' memory (sketched histories, reputation) for the rules that read it.
void recall_stage(const EngineView& e, RoundWork& w);
/// The calibrated detection stage (config.detection): rejects the clients on which a signal
/// fires and removes them from alive.
void detect_stage(const EngineView& e, RoundWork& w);
/// The policy's filters, transforms and aggregator on the summaries: fills decision. With a
/// preset, the policy of this round's size (EngineConfig::for_round).
void decide_stage(const EngineView& e, RoundWork& w);
/// Pass 2: the aggregate the decision asks for.
void aggregate_stage(const EngineView& e, RoundWork& w);
/// Scores, reputation evidence, the aggregate's sketch: completes result and pending.
void record_stage(const EngineView& e, RoundWork& w);

/// Whether the detection stage's response signal runs: it keeps each client's last sketch and
/// the sketches of the last aggregates (detection/response.h).
bool tracks_response(const EngineConfig& config);

/// The reputation update r <- decay r + (1 - decay) outcome (docs/rules_spectral_trust.md,
/// "reputation").
double updated_reputation(double before, double outcome, const ReputationSpec& spec);

}  // namespace fedguard::engine
