// The shared synthetic-round generator (host/synthetic/round.h): every value against a float64
// brute force of its formula, the options, determinism, and the errors.
#include "synthetic/round.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "fedguard/error.h"
#include "support/random_round.h"

namespace fedguard::synthetic {
namespace {

RoundSpec base_spec(std::size_t n, std::size_t d, std::uint64_t seed) {
  RoundSpec s;
  s.n = n;
  s.d = d;
  s.direction_scale = 0.5;
  s.noise_scale = 0.25;
  s.seed = seed;
  return s;
}

// What the documented formula gives for client i, column j (before duplication).
double brute_force(const RoundSpec& s, std::size_t i, std::size_t j) {
  double direction = 1.0, noise = 1.0;
  for (const Attacker& a : s.attackers) {
    if (a.client == i && j >= a.begin && j < std::min(a.end, s.d))
      direction = a.direction, noise = a.noise;
  }
  const double g = s.direction_scale * standard_normal(s.seed, 0, j);
  const double own = s.client_noise.empty() ? 1.0 : s.client_noise[i];
  const double e = own * s.noise_scale * standard_normal(s.seed, 1 + i, j);
  double v = s.offset + direction * g + noise * e;
  if (s.tie_grid > 0) v = std::round(v / s.tie_grid) * s.tie_grid;
  return v;
}

TEST(SyntheticRound, EveryValueIsItsFormulaRoundedOnceToFloat32) {
  const std::uint64_t seed = test::test_seed();
  RoundSpec s = base_spec(9, 31, seed);  // odd d: the last Box-Muller pair is half used
  s.offset = 3.0;
  s.client_noise = {1.0, 0.5, 2.0, 1.0, 0.25, 1.0, 3.0, 1.5, 1.0};
  s.attackers = {sign_flip(2, 4.0), gaussian(5, 10.0), scaled(7, -8.0, 10, 20), noisy(8, 6.0)};
  const Round r = generate(s);
  ASSERT_EQ(r.n, 9u);
  ASSERT_EQ(r.d, 31u);
  ASSERT_EQ(r.updates.size(), 9u * 31u);
  for (std::size_t i = 0; i < s.n; ++i)
    for (std::size_t j = 0; j < s.d; ++j)
      ASSERT_EQ(r.updates[i * s.d + j], static_cast<float>(brute_force(s, i, j)))
          << "client " << i << " col " << j;
  // The layer-targeted attacker is honest outside its columns.
  RoundSpec honest = base_spec(9, 31, seed);
  honest.offset = 3.0;
  honest.client_noise = s.client_noise;
  for (std::size_t j : {0u, 9u, 20u, 30u})
    EXPECT_EQ(r.updates[7 * 31 + j], static_cast<float>(brute_force(honest, 7, j)));
  EXPECT_NE(r.updates[7 * 31 + 10], static_cast<float>(brute_force(honest, 7, 10)));
  EXPECT_EQ(r.group, (std::vector<std::string>{"benign", "benign", "sign_flip", "benign", "benign",
                                               "gaussian", "benign", "scaled", "noisy"}));
}

TEST(SyntheticRound, BenignMeanIsTheFloat64MeanOfTheBenignRows) {
  RoundSpec s = base_spec(12, 40, test::test_seed());
  s.attackers = {sign_flip(1, 4.0), gaussian(6, 10.0)};
  const Round r = generate(s);
  ASSERT_EQ(r.benign_mean.size(), 40u);
  for (std::size_t j = 0; j < s.d; ++j) {
    double sum = 0;
    for (std::size_t i = 0; i < s.n; ++i)
      if (i != 1 && i != 6) sum += static_cast<double>(r.updates[i * s.d + j]);
    EXPECT_NEAR(r.benign_mean[j], sum / 10.0, 1e-15 * (1.0 + std::fabs(sum))) << j;
  }
  // No benign client: no mean (not a NaN).
  RoundSpec all = base_spec(2, 5, 1);
  all.attackers = {gaussian(0, 2.0), gaussian(1, 2.0)};
  EXPECT_TRUE(generate(all).benign_mean.empty());
}

TEST(SyntheticRound, SameSeedSameRoundAnyThreadCount) {
  const RoundSpec s = base_spec(64, 5000, 42);  // above the size that runs in parallel
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const Round one = generate(s);
  omp_set_num_threads(std::max(2, threads));
  const Round many = generate(s);
  omp_set_num_threads(threads);
  EXPECT_EQ(one.updates, many.updates);
  EXPECT_EQ(one.benign_mean, many.benign_mean);
  RoundSpec other = s;
  other.seed = 43;
  const Round different = generate(other);
  std::size_t equal = 0;
  for (std::size_t k = 0; k < s.n * s.d; ++k) equal += different.updates[k] == one.updates[k];
  EXPECT_LT(equal, s.n * s.d / 1000) << "seeds 42 and 43 gave nearly the same round";
}

TEST(SyntheticRound, GenerateRowsIsASliceOfTheRound) {
  RoundSpec s = base_spec(10, 77, test::test_seed());
  s.duplicates = Duplicates::kNear;
  s.attackers = {sign_flip(4, 2.0)};
  const Round r = generate(s);
  std::vector<float> rows(3 * s.d);
  generate_rows(s, 4, 3, rows.data());
  EXPECT_TRUE(std::equal(rows.begin(), rows.end(), r.updates.begin() + 4 * s.d));
  EXPECT_THROW(generate_rows(s, 9, 2, rows.data()), Error);
}

TEST(SyntheticRound, TiesRoundToTheGrid) {
  RoundSpec s = base_spec(20, 50, test::test_seed());
  s.direction_scale = s.noise_scale = 1.0;
  s.tie_grid = 0.5;
  const Round r = generate(s);
  std::set<float> distinct;
  for (float v : r.updates) {
    EXPECT_EQ(v * 2.0f, std::round(v * 2.0f)) << v;
    distinct.insert(v);
  }
  EXPECT_LT(distinct.size(), 40u);  // 1000 values on a grid of 0.5 over a few units: many ties
}

TEST(SyntheticRound, DuplicatesCopyTheRowBeforeAndItsGroup) {
  for (const Duplicates kind : {Duplicates::kExact, Duplicates::kNear}) {
    RoundSpec s = base_spec(11, 200, test::test_seed());
    s.duplicates = kind;
    s.attackers = {gaussian(4, 10.0), sign_flip(5, 4.0)};
    const Round r = generate(s);
    for (std::size_t i = 0; i < s.n; ++i) {
      const float* row = r.updates.data() + i * s.d;
      const float* before = row - s.d;
      if (i % 4 == 1) {
        EXPECT_EQ(r.group[i], r.group[i - 1]) << i;
        std::size_t same = 0;
        for (std::size_t j = 0; j < s.d; ++j) {
          EXPECT_NEAR(row[j], before[j], 1e-5 * std::fabs(before[j]) + 1e-30) << i << " " << j;
          same += row[j] == before[j];
        }
        if (kind == Duplicates::kExact) {
          EXPECT_EQ(same, s.d) << i;
        } else {
          EXPECT_LT(same, s.d / 2) << i;  // 1e-6 relative: most values change
        }
      } else if (i > 0) {
        EXPECT_NE(row[0], before[0]) << i;
      }
    }
    // Row 5 copies row 4: the sign-flip attacker there is replaced by a copy of the Gaussian one.
    EXPECT_EQ(r.group[5], "gaussian");
  }
}

TEST(SyntheticRound, OffsetShiftsEveryValue) {
  RoundSpec s = base_spec(30, 300, test::test_seed());
  const Round plain = generate(s);
  s.offset = 1000.0;
  const Round shifted = generate(s);
  // The offset is added before the one rounding to float32: within an ulp of 1000 (6.1e-5).
  double mean_shift = 0;
  for (std::size_t k = 0; k < plain.updates.size(); ++k) {
    const double shift =
        static_cast<double>(shifted.updates[k]) - static_cast<double>(plain.updates[k]);
    EXPECT_NEAR(shift, 1000.0, 1.3e-4) << k;
    mean_shift += shift / static_cast<double>(plain.updates.size());
  }
  EXPECT_NEAR(mean_shift, 1000.0, 1e-5);
}

TEST(SyntheticRound, AttackersDoWhatTheirNamesSay) {
  RoundSpec s = base_spec(3, 20000, test::test_seed());
  s.attackers = {sign_flip(1, 4.0), gaussian(2, 10.0)};
  const Round r = generate(s);
  // Correlation of each row with the common direction g.
  auto slope = [&](std::size_t i) {
    double xy = 0, gg = 0;
    for (std::size_t j = 0; j < s.d; ++j) {
      const double g = s.direction_scale * standard_normal(s.seed, 0, j);
      xy += r.updates[i * s.d + j] * g;
      gg += g * g;
    }
    return xy / gg;
  };
  EXPECT_NEAR(slope(0), 1.0, 0.05);   // benign: g + e
  EXPECT_NEAR(slope(1), -4.0, 0.05);  // sign flip: -4 g + e
  EXPECT_NEAR(slope(2), 0.0, 0.2);    // Gaussian: 10 e, no g (the slope's error is 10x larger)
}

TEST(SyntheticRound, StandardNormalHasTheRightMoments) {
  const std::uint64_t seed = test::test_seed();
  const std::size_t m = 200000;
  double sum = 0, sq = 0;
  std::size_t within_one = 0;
  for (std::size_t k = 0; k < m; ++k) {
    const double z = standard_normal(seed, 7, k);
    sum += z;
    sq += z * z;
    within_one += std::fabs(z) < 1.0;
  }
  // Tolerances of about 6 standard errors.
  EXPECT_NEAR(sum / m, 0.0, 6.0 / std::sqrt(static_cast<double>(m)));
  EXPECT_NEAR(sq / m, 1.0, 6.0 * std::sqrt(2.0 / static_cast<double>(m)));
  EXPECT_NEAR(static_cast<double>(within_one) / m, 0.682689,
              6.0 * 0.466 / std::sqrt(static_cast<double>(m)));
  // Streams and seeds are independent: neighbouring ones do not repeat values.
  EXPECT_NE(standard_normal(seed, 7, 0), standard_normal(seed, 8, 0));
  EXPECT_NE(standard_normal(seed, 7, 0), standard_normal(seed + 1, 7, 0));
  EXPECT_NE(derive_seed(seed, 0), derive_seed(seed, 1));
}

TEST(SyntheticRound, SpreadPositionsAreDistinctAndInRange) {
  for (std::size_t n : {1u, 2u, 7u, 40u, 120u}) {
    for (std::size_t count = 0; count <= n; ++count) {
      const std::vector<std::size_t> p = spread_positions(n, count);
      ASSERT_EQ(p.size(), count);
      EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
      EXPECT_EQ(std::set<std::size_t>(p.begin(), p.end()).size(), count) << n << " " << count;
      for (std::size_t x : p) EXPECT_LT(x, n);
      // Away from the crowded end: the demo's spacing, a * n / count + 1.
      if (2 * count <= n) {
        for (std::size_t a = 0; a < count; ++a) EXPECT_EQ(p[a], a * n / count + 1);
      }
    }
  }
  EXPECT_THROW(spread_positions(3, 4), Error);
}

TEST(SyntheticRound, BadSpecsAreErrorsNamingTheProblem) {
  auto message = [](const RoundSpec& s) {
    try {
      generate(s);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::kInvalidInput);
      return std::string(e.what());
    }
    return std::string();
  };
  RoundSpec s = base_spec(4, 3, 1);
  s.attackers = {gaussian(4, 1.0)};
  EXPECT_NE(message(s).find("client 4, but the round has n=4"), std::string::npos) << message(s);
  s.attackers = {gaussian(1, 1.0), sign_flip(1, 1.0)};
  EXPECT_NE(message(s).find("client 1 is given two attackers"), std::string::npos) << message(s);
  s.attackers = {scaled(0, 2.0, 3, 1)};
  EXPECT_NE(message(s).find("begin 3 > end 1"), std::string::npos) << message(s);
  s.attackers.clear();
  s.client_noise = {1.0, 2.0};
  EXPECT_NE(message(s).find("client_noise has 2 entries for n=4"), std::string::npos) << message(s);
  s.client_noise.clear();
  s.duplicates = Duplicates::kExact;
  s.duplicate_every = 1;
  EXPECT_NE(message(s).find("duplicate_every must be at least 2"), std::string::npos) << message(s);
}

}  // namespace
}  // namespace fedguard::synthetic
