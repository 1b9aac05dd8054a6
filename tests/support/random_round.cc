#include "support/random_round.h"

#include <cstdlib>
#include <iostream>

#include <gtest/gtest.h>

namespace fedguard::test {

std::uint64_t test_seed() {
  std::uint64_t seed;
  if (const char* env = std::getenv("FEDGUARD_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = std::random_device{}();
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::cout << "[ seed ] " << (info ? info->name() : "?") << ": FEDGUARD_TEST_SEED=" << seed << "\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

Matrix random_round(const RoundShape& s, std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> g(s.d);
  for (double& v : g) v = normal(rng);
  Matrix x(s.n, std::vector<double>(s.d));
  for (std::size_t i = 0; i < s.n; ++i) {
    // Every seventh row is an outlier of a different scale, so rules have something to do.
    const double spread = i % 7 == 3 ? 6.0 : 1.0;
    for (std::size_t j = 0; j < s.d; ++j) {
      double v = s.offset + g[j] + spread * normal(rng);
      if (s.ties) v = std::round(v * 2.0) / 2.0;
      x[i][j] = static_cast<float>(v);
    }
  }
  if (s.near_duplicates || s.exact_duplicates) {
    for (std::size_t i = 1; i < s.n; i += 4) {
      for (std::size_t j = 0; j < s.d; ++j) {
        const double base = x[i - 1][j];
        x[i][j] = s.exact_duplicates ? base : static_cast<float>(base * (1.0 + 1e-6 * normal(rng)));
      }
    }
  }
  return x;
}

std::vector<float> to_floats(const Matrix& x) {
  std::vector<float> out;
  for (const auto& row : x)
    for (double v : row) out.push_back(static_cast<float>(v));
  return out;
}

}  // namespace fedguard::test
