// How alike a group's members are along what they share (docs/detection.md, "Too central
// together"): the test that tells a cluster of clients with alike data from a coalition that
// shares one pushed component, for the direction group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard::detection {

/// The group alignment of the clients with in_group[a] != 0 among m clients given by a Gram
/// matrix (m x m, row-major, both triangles; inner products of the updates or of the updates
/// less any common vector: the result does not depend on it): the median over the members i of
/// cos(x_i - mean_N, mean_{S - i} - mean_N), N the other clients, S the group, each member left
/// out of the group mean it is compared with. Near 1 when every member is the group's shared
/// direction (clients holding the same labels); a coalition that adds one component (a
/// backdoor's trigger) to updates that otherwise differ stays well below. Needs 2 <= |S| <=
/// m - 1; a member whose deviation or leave-one-out direction is zero counts as 0.
/// `row_sums` (optional: empty or m values, gram's row sums, row_sums(gram, m)) makes the work
/// O(m |S|) instead of O(m^2): a round that judges several groups sums the rows once.
double group_alignment(const std::vector<double>& gram, std::size_t m,
                       const std::vector<std::uint8_t>& in_group,
                       const std::vector<double>& row_sums = {});

/// The row sums of an m x m row-major matrix.
std::vector<double> row_sums(const std::vector<double>& gram, std::size_t m);

}  // namespace fedguard::detection
