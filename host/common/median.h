// The median of a sample, by selection: the one definition the rules, the detection stage,
// monitoring and forensics share.
//
// Large samples (the detection stage's 5e5 pair residuals, m x m row medians at m = 1000) use
// the idea of Floyd & Rivest ("Expected time bounds for selection", CACM 1975): the order
// statistics of a small sample bracket the wanted rank, one pass keeps what falls inside the
// bracket and counts what falls below, and the selection finishes on the few values kept. The
// answer is exact whatever the sample (a sample that misses the rank only costs the plain
// std::nth_element over everything); the sample's positions come from a fixed generator, so
// the time does not depend on how the caller ordered the values.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard {

namespace median_detail {

// Below this count std::nth_element over everything is as fast (measured on 2026-12-04: the
// bracket wins from about 2,000 values).
inline constexpr std::size_t kBracketMin = 2048;

struct Middle {
  double upper;  // the value of rank h = n / 2
  double lower;  // the value of rank h - 1 (read only for an even count)
};

// Ranks h and h - 1 of v (n >= 2), reordering v; the plain path.
inline Middle middle_by_nth_element(std::vector<double>& v) {
  const std::size_t h = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(h), v.end());
  const double upper = v[h];
  const double lower =
      v.size() % 2 ? upper : *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(h));
  return {upper, lower};
}

// Ranks h and h - 1 of v through a sampled bracket [lo, hi]; false (v untouched) when the
// bracket misses rank h or a value is not ordered (NaN), and the caller takes the plain path.
inline bool middle_by_bracket(std::vector<double>& v, Middle& out) {
  const std::size_t n = v.size(), h = n / 2;
  // Sample size ~ n^(2/3) and a bracket of about 3 standard deviations of the sample rank
  // each side (Floyd & Rivest's choice up to constants): the bracket keeps ~ 6 n^(2/3) values'
  // worth of ranks and misses rank h with probability ~ 0.3%.
  const auto s = static_cast<std::size_t>(std::cbrt(static_cast<double>(n) * static_cast<double>(n)));
  std::vector<double> sample(s);
  std::uint64_t state = 0x9e3779b97f4a7c15ull ^ n;  // splitmix64: positions only
  for (std::size_t i = 0; i < s; ++i) {
    state += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    sample[i] = v[static_cast<std::size_t>((static_cast<unsigned __int128>(z) * n) >> 64)];
  }
  const double centre = static_cast<double>(s) * static_cast<double>(h) / static_cast<double>(n);
  const double spread = 3.0 * std::sqrt(static_cast<double>(s)) * 0.5 + 2.0;
  const auto rank_at = [&](double r) {
    return static_cast<std::size_t>(std::clamp(r, 0.0, static_cast<double>(s - 1)));
  };
  const std::size_t r_lo = rank_at(centre - spread), r_hi = rank_at(centre + spread);
  std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(r_lo), sample.end());
  const double lo = sample[r_lo];
  std::nth_element(sample.begin() + static_cast<std::ptrdiff_t>(r_lo),
                   sample.begin() + static_cast<std::ptrdiff_t>(r_hi), sample.end());
  const double hi = sample[r_hi];
  if (!(lo <= hi)) return false;  // NaN in the sample
  // One pass: count below lo (and keep the largest of those, rank h - 1 may be it), keep
  // [lo, hi] without branches, count the rest; a NaN lands in neither and is detected by the
  // counts not adding up.
  // The bracket holds ~ 3 n / sqrt(s) values; room for four times that, and the slot past the
  // end takes the writes of a bracket that overflows it (then the plain path).
  const std::size_t room = std::min(n, 4 * (3 * n / static_cast<std::size_t>(std::sqrt(static_cast<double>(s))) + 64));
  std::vector<double> kept(room + 1);
  std::size_t below = 0, inside = 0, above = 0;
  double max_below = -HUGE_VAL;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = v[i];
    const bool is_below = x < lo, is_above = x > hi;
    below += is_below;
    above += is_above;
    max_below = is_below && x > max_below ? x : max_below;
    kept[std::min(inside, room)] = x;
    inside += !is_below && !is_above && x == x;
  }
  if (inside > room || below + inside + above != n || h < below || h >= below + inside)
    return false;
  const std::size_t at = h - below;
  std::nth_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(at),
                   kept.begin() + static_cast<std::ptrdiff_t>(inside));
  out.upper = kept[at];
  out.lower = out.upper;
  if (n % 2 == 0)
    out.lower = at > 0 ? *std::max_element(kept.begin(), kept.begin() + static_cast<std::ptrdiff_t>(at))
                       : max_below;
  return true;
}

}  // namespace median_detail

/// The median of v (the mean of the two middle values for an even count); reorders v (or not,
/// for large counts), which must not be empty.
inline double median_in_place(std::vector<double>& v) {
  median_detail::Middle mid{v[0], v[0]};
  if (v.size() == 1) return v[0];
  if (v.size() < median_detail::kBracketMin || !median_detail::middle_by_bracket(v, mid))
    mid = median_detail::middle_by_nth_element(v);
  if (v.size() % 2) return mid.upper;
  return 0.5 * mid.lower + 0.5 * mid.upper;  // halves first: no overflow for two values near 1e308
}

/// The median of v (a copy is reordered); v must not be empty.
inline double median(std::vector<double> v) { return median_in_place(v); }

}  // namespace fedguard
