#include "common/gaussian_noise.h"

#include <algorithm>
#include <random>

namespace fedguard {

void add_gaussian_noise(float* v, std::size_t d, double sigma, std::uint64_t seed, int threads) {
  constexpr std::size_t kBlock = 65536;
  const auto blocks = static_cast<std::ptrdiff_t>((d + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)
  for (std::ptrdiff_t b = 0; b < blocks; ++b) {
    std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                      static_cast<std::uint32_t>(b),
                      static_cast<std::uint32_t>(static_cast<std::uint64_t>(b) >> 32)};
    std::mt19937_64 rng(seq);
    std::normal_distribution<double> normal(0.0, sigma);
    const std::size_t j0 = static_cast<std::size_t>(b) * kBlock;
    const std::size_t j1 = std::min(d, j0 + kBlock);
    for (std::size_t j = j0; j < j1; ++j) v[j] = static_cast<float>(v[j] + normal(rng));
  }
}

}  // namespace fedguard
