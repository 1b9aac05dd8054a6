// Random test rounds: fresh inputs every run, the seed printed so a failure can be replayed
// (set FEDGUARD_TEST_SEED to replay).
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace fedguard::test {

/// The seed for this test: FEDGUARD_TEST_SEED if set, else random; printed to the test log.
std::uint64_t test_seed();

using Matrix = std::vector<std::vector<double>>;  // rows of float32-representable values

struct RoundShape {
  std::size_t n = 0, d = 0;
  bool ties = false;             ///< many equal values per column (rounded to a coarse grid)
  bool near_duplicates = false;  ///< some rows are copies of others plus 1e-6 relative noise
  bool exact_duplicates = false;
  double offset = 0.0;  ///< common offset added to every value (large, similar updates)
};

/// Rows x_i = offset + g + noise_i with a few outlying rows; values exactly float32. Drawn by the
/// shared generator (host/synthetic/round.h) seeded with one draw of rng.
Matrix random_round(const RoundShape& shape, std::mt19937_64& rng);

/// Row-major float32 copy.
std::vector<float> to_floats(const Matrix& x);

}  // namespace fedguard::test
