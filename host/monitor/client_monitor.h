// Client-level change detection (docs/monitoring.md, "Per-client monitoring"). The detection
// stage judges each round alone: clients whose updates drift slowly (an attack whose strength
// ramps up) stay within the round's honest spread for many rounds. Here each client's own
// stream of per-round detection z values (one stream per signal) is compared with the client's
// own baseline, so a client's persistent non-IID offset is no change:
//   d_i = (x_i - mu_i) / s_i            deviation from its own baseline (warm-up: robust_baseline)
//   e_i = (d_i - med d) / max(1, 1.4826 MAD d)   over the round's clients: a move that every
//                                        client makes (training, a shift of the data) is no change
//   S+_i = max(0, S+_i + e_i - k), S-_i = max(0, S-_i - e_i - k)    one-sided CUSUMs (Page 1954)
//   mu_i += lambda_b (x_i - mu_i), s_i^2 = (1 - lambda_s) s_i^2 + lambda_s min((x_i - mu_i)^2, 9
//   s_i^2)
// The baseline follows the client slowly: a benign client's data changes, and a client alone
// that drifts far is what a client with a new data distribution does too (in the simulator's
// attack-free runs single benign clients' CUSUMs reached 30: docs/monitoring.md). What an
// honest population rarely does is several clients drifting the same way at the same time, so
// the alarm is a group's: when at least `min_group` clients exceed h on the same signal and side
// in one round, each of them alerts (and its CUSUM restarts).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fedguard/monitoring.h"
#include "monitor/detector.h"

namespace fedguard::monitor {

/// What the monitor keeps of one client: per signal the baseline (mean, scale), the warm-up
/// values, the CUSUMs (s_up, s_down) and counters, in a DetectorState; and when it was last seen.
struct ClientTrack {
  std::uint64_t last_round = 0;
  std::map<std::string, DetectorState> signals;

  bool operator==(const ClientTrack& o) const {
    return last_round == o.last_round && signals == o.signals;
  }
  nlohmann::json to_json() const;
  static ClientTrack from_json(const nlohmann::json& j, const std::string& where);
};

/// Which side of a signal's z is suspicious (the detection stage's tails, detection/signals.h):
/// "down" for direction, collusion and history (pointing away; too close to another client),
/// "both" for norm, sign and spectral.
std::string client_signal_direction(const std::string& signal);

/// The fewest clients past their warm-up for a signal to be tested in a round (a median and a
/// MAD of fewer say little).
constexpr std::size_t kClientMinTested = 5;

/// One round of client monitoring, computed without changing the state.
struct ClientObservation {
  std::vector<Alert> alerts;                   ///< sorted by client, then metric
  std::map<std::string, ClientTrack> updated;  ///< the tracks of this round's clients after it
  std::vector<std::string> forgotten;          ///< ids to drop (absent too long, or over the cap)
  /// Per tested signal and side ("norm_up", "direction_down"), the min_group-th largest CUSUM
  /// over the clients before any restart (the group statistic; the metric
  /// "client_<signal>_<side>_group").
  std::map<std::string, double> group_statistic;
};

/// `scores`: RoundResult::scores (per row; NaN where a client was not scored); `ids`: the
/// round's client ids (empty: rows are named "0", "1", ...). A repeated id is fed once (its
/// first row).
ClientObservation observe_clients(const ClientMonitorSpec& spec,
                                  const std::map<std::string, ClientTrack>& tracks,
                                  const std::map<std::string, std::vector<double>>& scores,
                                  const std::vector<std::string>& ids, std::size_t n,
                                  std::uint64_t round);

}  // namespace fedguard::monitor
