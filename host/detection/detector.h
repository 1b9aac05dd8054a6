// The detection stage: runs the enabled signals over the round's clients, cuts each signal's
// robust z at the value its false-alarm budget allows at this round's size, and rejects the
// clients on which any signal fires (docs/detection.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "detection/pair_persistence.h"
#include "detection/workspace.h"
#include "fedguard/config.h"
#include "fedguard/rejection.h"
#include "geometry/gram_space.h"

namespace fedguard::detection {

struct Finding {
  std::size_t index = 0;  ///< into the clients given to detect()
  /// The most specific signal that fired (norm, collusion, history, direction, sign, spectral).
  ReasonCode code = ReasonCode::kNormOutlier;
  std::string detail;
  /// For every signal: "<signal>_z", "<signal>_cut" and "<signal>" (the raw statistic); for
  /// collusion also "collusion_group" (size of the near-duplicate group).
  std::map<std::string, double> values;
  /// This round builds the client's own baselines as an accepted one (docs/detection.md, "Small
  /// from the start"): the only signal that fired was the norm's lower tail (a small update)
  /// with DetectionSpec::baseline_small_norm, or the sign balance (either side) with
  /// DetectionSpec::baseline_sign_only; neither buys a client weight in the aggregate.
  bool builds_baseline = false;
};

struct DetectionOutcome {
  std::vector<Finding> findings;  ///< the rejected clients, by index
  /// Per signal, the z of every client ("detect_norm", ...), for RoundResult::scores.
  std::map<std::string, std::vector<double>> scores;
  std::vector<std::string> notes;  ///< e.g. why detection did not run
  /// Own baselines (docs/detection.md): clients judged with one (a non-zero norm or sign
  /// baseline), and those beyond the round's cut that only their own baseline kept.
  std::size_t baseline_widened = 0, baseline_spared = 0;
  /// Loners whose norm alone fired, by its z under its cap, judged by stage B instead
  /// (DetectionSpec::loner_norm_cap; docs/detection.md, "A loner's size alone"), rejected or not.
  std::size_t norm_loners = 0;
  /// The history signal's candidates for following (a < b, indices of detect's clients, both
  /// with a history of kHistoryMinRounds): the pairs whose histories lie within
  /// kPairFollowFactor x collusion_max_distance, each with its normalised distance, nearest
  /// first; only the HistoryInput::max_close nearest of them (where histories converge every
  /// pair lies within: m(m - 1)/2, 5e5 at m = 1000). Empty when the history signal did not run.
  std::vector<ClosePair> history_close;
  /// Per followed pair of HistoryInput::pairs: whether both its clients have a history of
  /// kHistoryMinRounds and their histories lie within the follow distance (so it stays
  /// followed). Empty when the history signal did not run.
  std::vector<std::uint8_t> followed_close;
  /// Whether the history signal ran (and history_close is the whole list).
  bool history_ran = false;
};

/// The clients' cumulative sketched histories, for the history signal.
struct HistoryInput {
  /// Per client given to detect(), in order, k values: the sum of its sketches over every
  /// round it took part in, this one included. Null: no history (the signal does not run).
  const std::vector<double>* sketches = nullptr;
  std::size_t k = 0;
  std::vector<std::uint64_t>
      rounds;  ///< per client: the rounds its history covers, this one included
  /// Per client given to detect(), in order: its own baseline z of the norm and sign signals
  /// (the state's mean over its accepted rounds, already capped; 0: none yet). Empty: none.
  /// A baseline widens the client's cut on its own side only (docs/detection.md).
  std::vector<double> norm_baseline, sign_baseline;
  /// Per client given to detect(), in order: the mean of its per-round response z's, this
  /// round's included (detection/response.h; NaN: fewer than kResponseMinRounds rounds with a
  /// response), and how many rounds that mean covers. Empty: the signal does not run.
  std::vector<double> response;
  std::vector<std::uint64_t> response_rounds;
  /// The pairs of clients given to detect() (a < b, indices in order) that the state follows
  /// (detection/pair_persistence.h), judged with this round: a persistent pair is no one's
  /// partner in the history signal (honest twins differ by their data every round).
  struct Pair {
    std::size_t a = 0, b = 0;
    double persistence = 0, cut = 0;  ///< pair_persistence and its cut (NaN: none yet)
    std::uint64_t rounds = 0;         ///< rounds followed, this one included
    bool persistent = false;
  };
  std::vector<Pair> pairs;
  /// How many candidates for following the engine can take at most (its free places plus the
  /// pairs it follows, which it skips): detect() keeps the nearest that many in history_close.
  /// The default keeps all.
  std::size_t max_close = std::numeric_limits<std::size_t>::max();
};

/// A client's history counts once it covers this many rounds (one round is the collusion signal).
constexpr std::uint64_t kHistoryMinRounds = 2;

/// Groups in a tail (fire_tail_group in detector.cc): at least this many clients, the g-th at
/// least this far out (in z), besides its group cut.
constexpr std::size_t kTailGroupMinSize = 3;
constexpr double kTailGroupFloor = 2.0;

/// Runs detection over the scanned positions `rows` (pass 1 with Gram products).
/// @param d the model size (the sign signal's scale floor)
/// @param threads CPU threads for the O(m^2) loops (0: every core); the outcome does not
///        depend on it
DetectionOutcome detect(const DetectionSpec& spec, const geometry::GramSpace& space,
                        const std::vector<std::size_t>& rows, std::size_t d,
                        const HistoryInput& history = {}, int threads = 1,
                        Workspace* workspace = nullptr);

}  // namespace fedguard::detection
