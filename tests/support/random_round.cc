#include "support/random_round.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "synthetic/round.h"

namespace fedguard::test {

std::uint64_t test_seed() {
  std::uint64_t seed;
  if (const char* env = std::getenv("FEDGUARD_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    seed = std::random_device{}();
  }
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::cout << "[ seed ] " << (info ? info->name() : "?") << ": FEDGUARD_TEST_SEED=" << seed
            << "\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

Matrix random_round(const RoundShape& s, std::mt19937_64& rng) {
  synthetic::RoundSpec spec;
  spec.n = s.n;
  spec.d = s.d;
  spec.offset = s.offset;
  if (s.ties) spec.tie_grid = 0.5;
  spec.duplicates = s.exact_duplicates  ? synthetic::Duplicates::kExact
                    : s.near_duplicates ? synthetic::Duplicates::kNear
                                        : synthetic::Duplicates::kNone;
  // Every seventh row (3, 10, 17, ...) is an outlier of six times the noise, so rules have
  // something to do.
  for (std::size_t i = 3; i < s.n; i += 7) spec.attackers.push_back(synthetic::noisy(i, 6.0));
  // One draw of the test's generator seeds the round: the same test seed, the same rounds.
  spec.seed = rng();
  const synthetic::Round round = synthetic::generate(spec);
  Matrix x(s.n, std::vector<double>(s.d));
  for (std::size_t i = 0; i < s.n; ++i)
    for (std::size_t j = 0; j < s.d; ++j) x[i][j] = round.updates[i * s.d + j];
  return x;
}

std::vector<float> to_floats(const Matrix& x) {
  std::vector<float> out;
  for (const auto& row : x)
    for (double v : row) out.push_back(static_cast<float>(v));
  return out;
}

}  // namespace fedguard::test
