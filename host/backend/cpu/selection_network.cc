#include "backend/cpu/selection_network.h"

#include <algorithm>

#include "fedguard/error.h"

namespace fedguard::backend::cpu {

std::vector<Comparator> sorting_network(std::size_t m) {
  std::vector<Comparator> net;
  std::size_t n = 1;
  while (n < m) n <<= 1;
  for (std::size_t p = 1; p < n; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < n; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p) && i + j + k < m)
            net.emplace_back(static_cast<std::uint32_t>(i + j),
                             static_cast<std::uint32_t>(i + j + k));
  return net;
}

std::vector<Comparator> partition_network(std::size_t m, std::size_t b) {
  FEDGUARD_EXPECTS(2 * b < m, "partition network needs 2b < m, got b=" << b << " m=" << m);
  const std::vector<Comparator> full = sorting_network(m);
  // reach[w]: bit set of the classes (1: low, 2: middle, 4: high) a value on wire w can still
  // end in, given the comparators kept after this point.
  std::vector<std::uint8_t> reach(m);
  for (std::size_t w = 0; w < m; ++w) reach[w] = w < b ? 1 : w < m - b ? 2 : 4;
  std::vector<Comparator> kept;
  for (auto it = full.rbegin(); it != full.rend(); ++it) {
    const std::uint8_t both = reach[it->first] | reach[it->second];
    if (both == 1 || both == 2 || both == 4) continue;  // one class: order within it is irrelevant
    kept.push_back(*it);
    reach[it->first] = reach[it->second] = both;
  }
  std::reverse(kept.begin(), kept.end());
  return kept;
}

BlockedNetwork block_network(const std::vector<Comparator>& net, std::size_t m, std::size_t group) {
  BlockedNetwork out;
  out.group = group;
  if (group == 0) {
    out.rest = net;
    return out;
  }
  FEDGUARD_EXPECTS((group & (group - 1)) == 0, "group must be a power of two, got " << group);
  // The leading run of comparators within one aligned group: Batcher's stages p < group.
  std::size_t run = 0;
  while (run < net.size() && net[run].first / group == net[run].second / group) ++run;
  // Leading full groups whose comparators in that run are exactly sorting_network(group).
  const std::vector<Comparator> small = sorting_network(group);
  std::vector<std::vector<Comparator>> by_group((m + group - 1) / group);
  for (std::size_t c = 0; c < run; ++c) by_group[net[c].first / group].push_back(net[c]);
  while ((out.groups + 1) * group <= m) {
    const auto& mine = by_group[out.groups];
    const auto base = static_cast<std::uint32_t>(out.groups * group);
    bool same = mine.size() == small.size();
    for (std::size_t c = 0; same && c < small.size(); ++c)
      same = mine[c].first == small[c].first + base && mine[c].second == small[c].second + base;
    if (!same) break;
    ++out.groups;
  }
  for (std::size_t c = 0; c < net.size(); ++c)
    if (c >= run || net[c].first / group >= out.groups) out.rest.push_back(net[c]);
  return out;
}

}  // namespace fedguard::backend::cpu
