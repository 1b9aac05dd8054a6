// Synthetic update logs with ground truth for the forensics tests and the report demo: benign
// clients send a common direction plus noise; a few attackers send scaled or sign-flipped
// updates in some layers, from a given round on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedguard::test {

struct SyntheticLogSpec {
  std::size_t rounds = 12;
  std::size_t clients = 20;
  std::vector<std::pair<std::string, std::size_t>> layers = {{"conv1.weight", 600},
                                                             {"conv1.bias", 16},
                                                             {"fc1.weight", 1200},
                                                             {"fc1.bias", 32},
                                                             {"fc2.weight", 400}};
  std::vector<std::size_t> attackers = {3, 11, 17};  ///< client indices
  std::size_t attack_from = 2;                       ///< first round the attackers attack
  /// Attackers scale this layer's block by `scale` (others send a sign-flipped block).
  std::string attacked_layer = "fc1.weight";
  double scale = 8.0;
  std::uint64_t seed = 1;
};

/// Client id of index i: "client-07".
std::string synthetic_client_id(std::size_t i);

/// Writes spec.rounds rounds to dir with io::UpdateLogWriter (with ground truth and layers).
void write_synthetic_log(const std::string& dir, const SyntheticLogSpec& spec);

}  // namespace fedguard::test
