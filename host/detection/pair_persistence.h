// Whether two clients whose cumulative histories lie together differ the same way every round
// (honest twins: clients holding nearly the same data) or by fresh noise (Sybils hiding
// copies of one update under new noise each round), for the `history` signal
// (docs/detection.md, "Honest twins").
//
// The history signal follows FoolsGold (Fung, Yoon & Beschastnikh, "The Limitations of
// Federated Learning in Sybil Settings", RAID 2020): Sybils pushing one objective grow alike in
// their cumulative updates H_i. FoolsGold has no answer for honest clients with alike data; this
// test is ours. For a pair (i, j), d_t = u_it - u_jt is their difference in round t (in the
// sketch space the histories live in). When the d_t are independent with mean 0 (fresh noise),
// E|sum_t w_t d_t|^2 = sum_t w_t^2 |d_t|^2 for any weights; when they share a persistent part
// (data), the left side grows with the square of the rounds. The statistic is
//
//   persistence = |sum_t w_t d_t|^2 / sum_t w_t^2 |d_t|^2,   w_t = decay^(R - t),
//
// 1 in expectation for fresh noise, 1 + p (R_eff - 1) for a difference whose persistent share
// of each round's energy is p (R_eff = (sum w)^2 / sum w^2, at most (1 + decay) / (1 - decay)).
// Its spread under fresh noise is at most sqrt(2 / k_eff), k_eff the effective dimension of the
// noise, which the relative variance v of the |d_t|^2 estimates (v = 2 / k_eff for Gaussian
// noise; a drifting norm makes v larger, the cut then stricter): a pair is persistent when the
// statistic reaches 1 + max(kPersistenceExcess, kPersistenceSpread sqrt(v)) after at least
// kPairMinRounds rounds followed. The decay forgets: a pair that held a persistent difference
// and then converged loses its excuse within a few tens of rounds.
//
// What it cannot tell apart: Sybils that add a persistent private offset of their own (about a
// quarter of their per-round difference's energy) differ as honest twins do, and are excused.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace fedguard::detection {

/// Forgetting factor of the rounds' weights.
constexpr double kPairDecay = 0.9;
/// A pair is judged after this many rounds followed (both clients present).
constexpr std::uint64_t kPairMinRounds = 3;
/// The persistence must exceed 1 by at least this, and by kPersistenceSpread sqrt(v).
constexpr double kPersistenceExcess = 1.0;
constexpr double kPersistenceSpread = 3.0;

/// Pairs whose histories come within this multiple of collusion_max_distance are followed, so
/// that their persistence is known by the time they are close enough to fire; at most
/// kMaxFollowedPairs at once (each holds a sketch; the nearest are followed first).
constexpr double kPairFollowFactor = 2.0;
constexpr std::size_t kMaxFollowedPairs = 4096;
/// A pair one of whose clients has taken part in none of this many rounds is no longer
/// followed (clients that left the federation do not hold places).
constexpr std::uint64_t kPairMaxAbsence = 32;

/// A followed pair's decayed sums over the rounds both clients were present in, since it was
/// first followed.
struct PairTrack {
  std::vector<double> diff;  ///< sum_t w_t d_t (sketch_dim values)
  double weighted_sq = 0;    ///< sum_t w_t^2 |d_t|^2
  double weight = 0;         ///< sum_t w_t
  double weight_sq = 0;      ///< sum_t w_t^2
  double energy = 0;         ///< sum_t w_t |d_t|^2
  double energy_sq = 0;      ///< sum_t w_t |d_t|^4
  std::uint64_t rounds = 0;  ///< rounds followed
};

/// Adds a round in which both clients sent the sketches a and b (k values each). Returns false,
/// leaving track as it was, when a sum would not be finite.
bool add_pair_round(PairTrack& track, const double* a, const double* b, std::size_t k);

/// The statistic above; NaN before a round with a non-zero difference.
double pair_persistence(const PairTrack& track);
/// The value the statistic must reach: 1 + max(kPersistenceExcess, kPersistenceSpread sqrt(v)).
double pair_persistence_cut(const PairTrack& track);
/// Whether the pair differs persistently: followed kPairMinRounds rounds and at its cut.
bool pair_is_persistent(const PairTrack& track);

/// A candidate pair for following: its histories' normalised distance and the two clients
/// (a < b). Ordered by distance, then by the clients.
using ClosePair = std::pair<double, std::pair<std::size_t, std::size_t>>;

/// Collects the `keep` nearest candidates of a stream in O(keep) memory: offered
/// candidates are kept in a buffer that is cut back to the `keep` nearest (std::nth_element)
/// whenever it holds twice as many, after which only candidates nearer than the farthest kept
/// one are taken. The same set as keeping all and selecting at the end.
class NearestPairs {
 public:
  explicit NearestPairs(std::size_t keep) : keep_(std::max<std::size_t>(keep, 1)) {}
  void offer(const ClosePair& candidate) {
    if (bounded_ && !(candidate < bound_)) return;
    pairs_.push_back(candidate);
    if (pairs_.size() / 2 >= keep_) cut_back();
  }
  /// The nearest `keep` of everything offered (all of it when fewer), nearest first.
  std::vector<ClosePair> take() {
    if (pairs_.size() > keep_) cut_back();
    std::sort(pairs_.begin(), pairs_.end());
    return std::move(pairs_);
  }

 private:
  void cut_back() {
    const auto last = pairs_.begin() + static_cast<std::ptrdiff_t>(keep_ - 1);
    std::nth_element(pairs_.begin(), last, pairs_.end());
    bound_ = *last;
    bounded_ = true;
    pairs_.resize(keep_);
  }
  std::size_t keep_;
  std::vector<ClosePair> pairs_;
  ClosePair bound_{};
  bool bounded_ = false;
};

}  // namespace fedguard::detection
