// Krum scores, shared by krum, multi_krum and bulyan's selection.
#pragma once

#include <cstddef>
#include <vector>

namespace fedguard::rules {

/// score of each active candidate (a position into the m x m squared-distance matrix dist):
/// the sum of its squared distances to its max(0, |active| - f - 2) nearest other active
/// candidates. Returned in the order of `active`.
std::vector<double> krum_scores(const std::vector<double>& dist, std::size_t m,
                                const std::vector<std::size_t>& active, std::size_t f);

/// Positions of `scores` ordered by (score, position): ties go to the lower index.
std::vector<std::size_t> rank_ascending(const std::vector<double>& scores);

}  // namespace fedguard::rules
