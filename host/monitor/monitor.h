// The monitor: what it keeps across rounds (the detectors' states, the client ids seen) and
// one round's observation, computed without touching the state so that a round that fails
// later changes nothing (the engine commits it with the rest of its state).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fedguard/monitoring.h"
#include "monitor/client_monitor.h"
#include "monitor/detector.h"

namespace fedguard::monitor {

struct MonitorState {
  std::map<std::string, DetectorState> detectors;  ///< by DetectorSpec::key()
  std::vector<std::uint64_t> seen_clients;         ///< 64-bit FNV-1a hashes of ids, sorted
  std::map<std::string, ClientTrack> clients;      ///< per-client monitoring, by client id

  bool operator==(const MonitorState& o) const {
    return detectors == o.detectors && seen_clients == o.seen_clients && clients == o.clients;
  }
  /// The state file's "monitor" section (engine/state_file.cc writes and reads it whole).
  nlohmann::json to_json() const;
  /// Throws kIo naming `where` (the file) for a malformed section.
  static MonitorState from_json(const nlohmann::json& j, const std::string& where);
};

/// 64-bit FNV-1a of a client id (what seen_clients holds: 8 bytes per client, collisions
/// negligible below ~1e8 clients).
std::uint64_t client_hash(const std::string& id);

/// Hashes of this round's ids not in seen_clients (sorted, unique).
std::vector<std::uint64_t> new_client_hashes(const MonitorState& state,
                                             const std::vector<std::string>& ids, std::size_t n);

/// One round seen by the detectors.
struct Observation {
  std::vector<Alert> alerts;
  std::vector<std::string> refused;                ///< metrics not finite: not fed
  std::map<std::string, DetectorState> detectors;  ///< the detectors' states after this round
  std::vector<std::uint64_t> new_clients;          ///< to add to seen_clients
  ClientObservation clients;                       ///< per-client monitoring (observe_clients)
};

/// Feeds every configured detector whose metric is present and finite; a detector whose
/// metric is absent this round keeps its state. Does not change `state`.
Observation observe(const MonitoringConfig& config, const MonitorState& state,
                    const std::map<std::string, double>& metrics, std::uint64_t round);

/// One line for a person: "round 12: alert aggregate_norm cusum up (statistic 11.2 > 10,
/// value 3.1, baseline 1.02 +- 0.05)"; a client-level alert names its client after the direction
/// ("... group_cusum down client c7 (statistic ...").
std::string describe(const Alert& alert);

/// Applies an observation (after the round succeeded).
void commit(MonitorState& state, Observation&& observation);

}  // namespace fedguard::monitor
