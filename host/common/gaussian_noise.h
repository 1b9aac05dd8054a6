// Seeded Gaussian noise for aggregates (FLAME's differential-privacy step).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fedguard {

/// v[j] += N(0, sigma^2) for j < d. Blocks of 65536 coordinates draw from generators seeded by
/// (seed, block), so the result depends on the seed alone, not on the thread count.
void add_gaussian_noise(float* v, std::size_t d, double sigma, std::uint64_t seed, int threads);

}  // namespace fedguard
