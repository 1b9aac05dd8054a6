// Splitting a dataset among clients, and the data-level attacks (label flipping, a pixel
// trigger) that malicious clients apply to their own samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fedguard::sim {

/// Non-IID split by label (Hsu, Qi, Brown, "Measuring the effects of non-identical data
/// distribution", 2019): for each class, its samples (in a seeded random order) are cut among
/// the clients in proportions drawn from Dirichlet(alpha, ..., alpha). Small alpha gives
/// label-skewed clients; large alpha approaches IID. Draws are repeated (with derived seeds)
/// until every client holds at least min_per_client samples; after 1000 tries it throws.
/// Every index in `indices` goes to exactly one client; each client's list is sorted.
/// @param labels label of every sample of the dataset
/// @param indices which samples to split (e.g. all but the server's root set)
std::vector<std::vector<std::uint32_t>> dirichlet_split(const std::vector<std::uint8_t>& labels,
                                                        const std::vector<std::uint32_t>& indices,
                                                        std::size_t clients, std::size_t classes,
                                                        double alpha, std::size_t min_per_client,
                                                        std::uint64_t seed);

/// A white square of size x size pixels, `margin` pixels from the bottom-right corner
/// (BadNets-style; Gu et al., "BadNets", 2017).
struct Trigger {
  std::size_t size = 3;
  std::size_t margin = 1;
  std::uint8_t value = 255;
};

/// Stamps the trigger onto one rows x cols image in place. Throws kInvalidInput when the
/// square does not fit.
void apply_trigger(std::uint8_t* image, std::size_t rows, std::size_t cols, const Trigger& trigger);

/// Label flipping: y -> classes - 1 - y.
inline std::uint8_t flip_label(std::uint8_t y, std::size_t classes) {
  return static_cast<std::uint8_t>(classes - 1 - y);
}

}  // namespace fedguard::sim
