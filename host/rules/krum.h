// Krum scores, shared by krum, multi_krum and bulyan's selection.
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::rules {

/// score of each active candidate (a position into the m x m squared-distance matrix dist):
/// the sum of its squared distances to its max(0, |active| - f - 2) nearest other active
/// candidates. Returned in the order of `active`. The sum runs in index order: the values below
/// the neighbours' largest, then that value times the places left (the ties at the boundary),
/// so that it does not depend on how the selection ordered them; rows on `threads` threads
/// above 128 candidates (0: every core), the same result on any team.
std::vector<double> krum_scores(const std::vector<double>& dist, std::size_t m,
                                const std::vector<std::size_t>& active, std::size_t f,
                                int threads = 1);

/// Scores within this relative distance count as tied: the Gram matrix is accumulated from
/// float32 products, so scores that are equal in exact arithmetic (common with quantised or
/// duplicated updates) come out different in their last digits, and exact comparison would
/// break such ties by rounding noise instead of by index.
constexpr double kScoreTieTolerance = 1e-6;

/// True when a and b are equal within kScoreTieTolerance (relative).
bool scores_tied(double a, double b);

/// Positions of `scores` ordered by (score, position), then the m lowest chosen so that
/// scores tied (within kScoreTieTolerance) with the m-th lowest are taken in index order.
/// Returns all positions: the first m are the selected ones, in index order.
std::vector<std::size_t> rank_ascending(const std::vector<double>& scores, std::size_t m);

}  // namespace fedguard::rules
