// The Dirichlet split (deterministic under a seed, every sample exactly once, skew follows
// alpha) and the backdoor trigger.
#include "sim/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "fedguard/error.h"
#include "sim/random.h"

namespace fedguard::sim {
namespace {

std::vector<std::uint8_t> labels(std::size_t n) {
  std::vector<std::uint8_t> y(n);
  Rng rng(42);
  for (auto& v : y) v = static_cast<std::uint8_t>(rng.below(10));
  return y;
}

std::vector<std::uint32_t> iota(std::size_t n) {
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint32_t>(i);
  return v;
}

TEST(Dirichlet, DeterministicWithSeed) {
  const auto y = labels(5000);
  const auto a = dirichlet_split(y, iota(5000), 20, 10, 0.5, 5, 7);
  const auto b = dirichlet_split(y, iota(5000), 20, 10, 0.5, 5, 7);
  const auto c = dirichlet_split(y, iota(5000), 20, 10, 0.5, 5, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Dirichlet, CoversEverySampleOnce) {
  const auto y = labels(3000);
  // A subset of the indices, as when the server's root set is held out.
  std::vector<std::uint32_t> pool;
  for (std::uint32_t i = 0; i < 3000; ++i)
    if (i % 7 != 3) pool.push_back(i);
  for (const double alpha : {0.05, 0.5, 100.0}) {
    const auto parts = dirichlet_split(y, pool, 13, 10, alpha, 1, 3);
    ASSERT_EQ(parts.size(), 13u);
    std::vector<std::uint32_t> all;
    for (const auto& p : parts) {
      EXPECT_GE(p.size(), 1u);
      EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
      all.insert(all.end(), p.begin(), p.end());
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, pool) << "alpha " << alpha;
  }
}

// Small alpha concentrates each client on few labels; large alpha is close to IID.
TEST(Dirichlet, SkewFollowsAlpha) {
  const auto y = labels(20000);
  auto mean_top_share = [&](double alpha) {
    const auto parts = dirichlet_split(y, iota(20000), 20, 10, alpha, 1, 11);
    double sum = 0;
    for (const auto& p : parts) {
      std::vector<std::size_t> count(10);
      for (const auto i : p) ++count[y[i]];
      sum += static_cast<double>(*std::max_element(count.begin(), count.end())) /
             static_cast<double>(p.size());
    }
    return sum / 20;
  };
  EXPECT_GT(mean_top_share(0.1), 0.5);
  EXPECT_LT(mean_top_share(1000), 0.15);
}

TEST(Dirichlet, MinimumPerClientAndErrors) {
  const auto y = labels(2000);
  const auto parts = dirichlet_split(y, iota(2000), 10, 10, 0.3, 50, 1);
  for (const auto& p : parts) EXPECT_GE(p.size(), 50u);
  EXPECT_THROW(dirichlet_split(y, iota(2000), 10, 10, 0.0, 1, 1), Error);
  EXPECT_THROW(dirichlet_split(y, iota(100), 10, 10, 0.5, 11, 1), Error);
}

TEST(Trigger, StampsWhiteSquareInBottomRightCorner) {
  std::vector<std::uint8_t> img(28 * 28, 7);
  apply_trigger(img.data(), 28, 28, Trigger{});  // 3 x 3, margin 1
  std::size_t white = 0;
  for (std::size_t r = 0; r < 28; ++r)
    for (std::size_t c = 0; c < 28; ++c) {
      const bool in = r >= 24 && r <= 26 && c >= 24 && c <= 26;
      EXPECT_EQ(img[r * 28 + c], in ? 255 : 7) << r << "," << c;
      white += img[r * 28 + c] == 255;
    }
  EXPECT_EQ(white, 9u);
  std::vector<std::uint8_t> small(4 * 4, 0);
  apply_trigger(small.data(), 4, 4, Trigger{4, 0, 200});  // exactly fits
  for (const auto v : small) EXPECT_EQ(v, 200);
  EXPECT_THROW(apply_trigger(small.data(), 4, 4, Trigger{4, 1, 255}), Error);
}

TEST(LabelFlip, MirrorsTheClasses) {
  EXPECT_EQ(flip_label(0, 10), 9);
  EXPECT_EQ(flip_label(9, 10), 0);
  EXPECT_EQ(flip_label(4, 10), 5);
}

}  // namespace
}  // namespace fedguard::sim
