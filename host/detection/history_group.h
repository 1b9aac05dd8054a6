// The history group signal (`history_group`, docs/detection.md): a coalition in the clients'
// cumulative sketched histories. FoolsGold (Fung et al., "The Limitations of Federated Learning
// in Sybil Settings", RAID 2020) observes that Sybils pushing one objective keep sending
// similar updates, so their cumulative histories H_i grow alike, and down-weights a client by
// its largest cosine to another. Departures: not a weight but a group test with a gap, and not
// the nearest partner but the (g - 1)-th: in a coalition of g each member has g - 1 partners
// much closer than any honest client has. For every group size g the statistic is the log of a
// client's normalised distance in H to its (g - 1)-th nearest other client, robustly z'd over
// the clients; the g lowest fire together when the g-th passes the per-client cut (or, at least
// 2, the cut g clients reach together with the same probability) and its gap over the
// (g + 1)-th, scaled to the group's size as `spectral_group`'s is for a tight group, reaches the
// threshold. It names what the per-round signals
// and the near-duplicate history signal miss: data poisoners whose updates are no closer to
// each other than honest ones in any one round (a backdoor scaled to the honest norms), but
// whose shared push adds up round after round (docs/detection.md, "The history group").
#pragma once

#include <cstddef>
#include <vector>

#include "detection/signals.h"
#include "detection/workspace.h"

namespace fedguard::detection {

/// The smallest coalition the signal looks for.
constexpr std::size_t kHistoryGroupMinSize = 3;
/// detect() runs the signal over at least this many clients with a history of two rounds or
/// more (as `spectral_group`): over 20 clients (Dirichlet 0.5, 500 attack-free rounds) the robust
/// z of the (g - 1)-th neighbour's distance let five honest clients of alike data stand apart as a
/// group from round 180 on in one seed of three; at 50 clients no attack-free run of 100 or 500
/// rounds fired (docs/detection.md, "The history group").
constexpr std::size_t kHistoryGroupMinClients = 50;
/// Each member's z must pass this per-client budget's cut (calibrated_cut, lower tail), and at
/// least kHistoryGroupMinZ.
constexpr double kHistoryGroupBudget = 0.002;
constexpr double kHistoryGroupMinZ = 3.0;
/// Or each member's z passes the cut that g of the m clients pass with probability at most
/// kHistoryGroupBudget (calibrated_group_cut), and at least this.
constexpr double kHistoryGroupOrderFloor = 2.0;
/// The smallest scale of the log-distance's z (a relative spread of 5%): clients of one data
/// distribution can lie at nearly equal distances, and a tiny MAD would make any difference a
/// large z.
constexpr double kHistoryGroupScaleFloor = 0.05;
/// Distances below this (identical histories) count as this, so that their log is finite.
constexpr double kHistoryGroupMinDistance = 1e-12;

struct HistoryGroup {
  /// "history_group": per client the normalised distance to its (G - 1)-th nearest other
  /// client and the robust z of its log, G the size of the best-scoring group
  /// (kHistoryGroupMinSize when none scored).
  SignalValues values;
  std::vector<std::size_t> group;  ///< positions (0..m-1) of the group that fired, ascending
  double score = 0;                ///< the largest gap score found (fired or not)
  std::size_t size = 0;            ///< the size of that group
};

/// The signal over m clients given their normalised distances in H (m x m, row-major, both
/// triangles; the diagonal is ignored; NaN counts as 2, the largest there is). Groups of
/// kHistoryGroupMinSize <= g <= max_group (and g < m) are scored; the best fires when its score
/// is at least min_score. Needs m >= kMinClients. CPU threads for the rows and the group sizes
/// (0: every core; from 128 clients on); the result does not depend on them.
HistoryGroup history_group_of_distances(const std::vector<double>& rho, std::size_t m,
                                        double min_score, std::size_t max_group, int threads = 1,
                                        Workspace* ws = nullptr);

}  // namespace fedguard::detection
