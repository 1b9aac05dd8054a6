// A synthetic federated round with known attackers, for the demo and the benchmarks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedguard::cli {

struct SyntheticRound {
  std::size_t n = 0, d = 0;
  std::vector<float> updates;       ///< n x d, row-major
  std::vector<std::string> group;   ///< "benign", "sign_flip" or "gaussian", per client
  std::vector<double> benign_mean;  ///< d, the mean of the benign rows
};

/// Benign clients send g + noise (g a common direction, noise of the same scale); half the
/// attackers send -4 g + noise (a scaled sign flip of the benign direction), the other half
/// large Gaussian noise (sigma 10x the benign noise). Attackers are interleaved with the
/// benign clients at fixed positions.
SyntheticRound make_synthetic_round(std::size_t benign, std::size_t attackers, std::size_t d,
                                    std::uint64_t seed);

}  // namespace fedguard::cli
