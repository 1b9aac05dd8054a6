#include "cli/synthetic_round.h"

#include <random>

namespace fedguard::cli {

SyntheticRound make_synthetic_round(std::size_t benign, std::size_t attackers, std::size_t d,
                                    std::uint64_t seed) {
  SyntheticRound s;
  s.n = benign + attackers;
  s.d = d;
  s.updates.resize(s.n * d);
  s.benign_mean.assign(d, 0.0);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  constexpr float kScale = 0.01f;
  std::vector<float> g(d);
  for (float& x : g) x = kScale * normal(rng);

  // Spread attackers through the index range so no rule can win by position.
  s.group.assign(s.n, "benign");
  for (std::size_t a = 0; a < attackers; ++a) {
    const std::size_t pos = (a * s.n) / std::max<std::size_t>(attackers, 1) + 1;
    s.group[std::min(pos, s.n - 1)] = a % 2 == 0 ? "sign_flip" : "gaussian";
  }
  for (std::size_t i = 0; i < s.n; ++i) {
    float* row = s.updates.data() + i * d;
    if (s.group[i] == "benign") {
      for (std::size_t j = 0; j < d; ++j) row[j] = g[j] + kScale * normal(rng);
      for (std::size_t j = 0; j < d; ++j) s.benign_mean[j] += row[j];
    } else if (s.group[i] == "sign_flip") {
      for (std::size_t j = 0; j < d; ++j) row[j] = -4.0f * g[j] + kScale * normal(rng);
    } else {
      for (std::size_t j = 0; j < d; ++j) row[j] = 10.0f * kScale * normal(rng);
    }
  }
  std::size_t benign_rows = 0;
  for (const auto& grp : s.group) benign_rows += grp == "benign";
  for (double& x : s.benign_mean) x /= static_cast<double>(benign_rows);
  return s;
}

}  // namespace fedguard::cli
