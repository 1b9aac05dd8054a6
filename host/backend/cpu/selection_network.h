// Comparator networks for pass 2's column statistics: Batcher's odd-even merge sort, and the
// same network pruned to a selection network that only partitions the values into the b
// smallest, the middle m - 2b and the b largest (what the median and the trimmed mean read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace fedguard::backend::cpu {

using Comparator = std::pair<std::uint32_t, std::uint32_t>;  ///< (i, j), i < j: min to i, max to j

/// Batcher's odd-even merge sort for the next power of two >= m, keeping only comparators
/// whose both ends are < m (positions >= m would hold +inf and never move).
std::vector<Comparator> sorting_network(std::size_t m);

/// The sorting network of m wires without the comparators that cannot change which values end
/// in each of the classes [0, b), [b, m - b), [m - b, m): walking backwards, a comparator is
/// dropped when every final position either of its outputs can still reach lies in one class
/// (it only permutes values within that class). After it runs, positions [b, m - b) hold
/// exactly the values a full sort would put there, in some order: their sum is the trimmed
/// mean's numerator (b = (m - 1) / 2: the median's one or two middle values). Requires 2b < m.
std::vector<Comparator> partition_network(std::size_t m, std::size_t b);

/// A network of sorting_network's family split for register blocking: first sort each of the
/// wire groups [g * group, (g + 1) * group), g < groups, by sorting_network(group), then apply
/// `rest` in order. Batcher's first stages act within aligned groups of a power-of-two size, so a
/// full group's leading comparators are that smaller network: a kernel can hold the group in
/// registers for them instead of loading and storing two wires per comparator.
struct BlockedNetwork {
  std::size_t group = 0;         ///< wires per group (a power of two)
  std::size_t groups = 0;        ///< leading full groups sorted first
  std::vector<Comparator> rest;  ///< the other comparators, in the original order
};

/// Splits `net` (sorting_network or partition_network of m wires) for groups of `group` wires.
/// The same comparators as `net` in an order that differs only between comparators on disjoint
/// wires, so every output is bit-identical. group = 0: no groups, rest = net.
BlockedNetwork block_network(const std::vector<Comparator>& net, std::size_t m, std::size_t group);

}  // namespace fedguard::backend::cpu
