// The median and trimmed mean of many rows by counting (host/backend/cpu/lane_select.h, issue 19)
// against a plain float64 sort on fresh random inputs: the k-th values of each lane bit for bit
// (the order of the floats' keys, -0 below +0, as the kernel counts), for every rank at the edges
// and in the middle, on data that defeats interpolation (ties, a lane of one value, values of every
// magnitude, a cluster and a far group, sorted rows); then the backend's median around the line
// where it takes over from the network and above the networks' rows, an Inf there included.
#include "backend/cpu/lane_select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/lane_blocks.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

// The float order with -0 below +0 (the kernel's keys), for the brute force's sort.
bool key_less(float a, float b) {
  auto key = [](float x) {
    const std::uint32_t u = bits_of(x);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
  };
  return key(a) < key(b);
}

// Kinds of lane data, each a way to stall a selection that interpolates.
float draw(int kind, std::size_t p, std::size_t m, std::size_t lane, std::mt19937_64& rng) {
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> grid(-3, 3);
  switch (kind) {
    case 0:
      return normal(rng);
    case 1:  // few values, signed zeros among them
      return grid(rng) == 0 ? (grid(rng) > 0 ? 0.0f : -0.0f) : 0.5f * static_cast<float>(grid(rng));
    case 2:  // every magnitude, up to the largest finite floats of both signs
      return grid(rng) == 3 ? std::copysign(FLT_MAX, normal(rng))
                            : std::ldexp(normal(rng), grid(rng) * 40);
    case 3:  // lanes of one value, and lanes of one value with a single other
      return lane % 2 ? 1.25f : (p == m / 3 ? -FLT_MAX : 0.0f);
    case 4:  // 80% in a tight cluster, 20% far away
      return p % 5 == 0 ? 100.0f + normal(rng) : 1e-3f * normal(rng);
    default:  // sorted rows, ascending in even lanes and descending in odd ones
      return static_cast<float>(lane % 2 ? m - p : p) * 0.25f;
  }
}

TEST(SelectionCpu, LaneRanksEqualTheFloat64SortBitForBit) {
  std::mt19937_64 rng(test_seed());
  const bool kernel = backend::cpu::lane_select_available();
  for (std::size_t m : {1, 2, 3, 16, 17, 64, 100, 639, 640, 1000, 1025, 3001}) {
    for (int kind = 0; kind < 6; ++kind) {
      // The values; each call gets a copy in an aligned block (which it leaves holding keys).
      std::vector<float> values(m * 16);
      for (std::size_t p = 0; p < m; ++p)
        for (std::size_t l = 0; l < 16; ++l) values[p * 16 + l] = draw(kind, p, m, l, rng);
      std::vector<float> storage(m * 16 + 16);
      float* block = backend::cpu::aligned_lines(storage.data());
      auto fresh = [&] {
        std::copy(values.begin(), values.end(), block);
        return block;
      };
      std::uniform_int_distribution<std::size_t> any(0, m - 1);
      const std::size_t r = any(rng);
      for (auto [k1, k2] : {std::pair<std::size_t, std::size_t>{(m - 1) / 2, m / 2},
                            {0, 0},
                            {m - 1, m - 1},
                            {0, m - 1},
                            {std::min(r, m - 1 - r), std::max(r, m - 1 - r)}}) {
        float lower[16], upper[16];
        const bool ran = backend::cpu::select_lane_ranks(fresh(), m, k1, k2, lower, upper);
        ASSERT_EQ(ran, kernel) << "the kernel runs exactly where the processor has AVX-512 or AVX2";
        if (!ran) continue;
        for (std::size_t l = 0; l < 16; ++l) {
          std::vector<float> lane(m);
          for (std::size_t p = 0; p < m; ++p) lane[p] = values[p * 16 + l];
          std::sort(lane.begin(), lane.end(), key_less);
          EXPECT_EQ(bits_of(lower[l]), bits_of(lane[k1]))
              << "m=" << m << " kind=" << kind << " lane=" << l << " k1=" << k1 << ": " << lower[l]
              << " vs " << lane[k1];
          EXPECT_EQ(bits_of(upper[l]), bits_of(lane[k2]))
              << "m=" << m << " kind=" << kind << " lane=" << l << " k2=" << k2 << ": " << upper[l]
              << " vs " << lane[k2];
        }
      }
      // The trimmed sums: the float64 sum of the sorted middle, up to the rounding of a float64
      // sum in another order.
      for (std::size_t t : {std::size_t{0}, m / 10, (m - 1) / 3, (m - 1) / 2}) {
        double sums[16];
        ASSERT_EQ(backend::cpu::trimmed_sum_lanes(fresh(), m, t, sums), kernel);
        if (!kernel) continue;
        for (std::size_t l = 0; l < 16; ++l) {
          std::vector<double> lane(m);
          for (std::size_t p = 0; p < m; ++p) lane[p] = values[p * 16 + l];
          std::sort(lane.begin(), lane.end());
          double want = 0, magnitude = 0;
          for (std::size_t p = t; p < m - t; ++p) {
            want += lane[p];
            magnitude += std::fabs(lane[p]);
          }
          EXPECT_NEAR(sums[l], want, 4.0 * static_cast<double>(m) * 0x1p-52 * magnitude + 1e-300)
              << "m=" << m << " kind=" << kind << " lane=" << l << " t=" << t;
        }
      }
    }
  }
}

// Through the backend: the median of m rows equals the float64 median of each column (the mean
// of the two middle values in float64, then float32), and the trimmed mean the float64 mean of
// the sorted middle up to the rounding of its sum, below and above the lines at which the
// counting kernels take over (640 rows for the median, 1000 for the trimmed mean) and above the
// networks' 2048 rows, where a chunk with an Inf goes back to per-column selection. -0 == +0
// here, as the median's value.
TEST(SelectionCpu, MedianAndTrimmedMeanOfManyRowsMatchFloat64) {
  std::mt19937_64 rng(test_seed());
  auto backend = backend::make_cpu_backend(2, /*team_for_any_size=*/true);
  for (std::size_t m : {639, 640, 999, 1000, 2048, 2049, 4096}) {
    const std::size_t d = 37;  // two lane blocks and a partial one
    for (int kind = 0; kind < 6; ++kind) {
      std::vector<float> data(m * d);
      for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < d; ++j) data[i * d + j] = draw(kind, i, m, j % 16, rng);
      if (kind == 4) data[(m / 2) * d + 20] = INFINITY;  // one Inf, in the second block
      const UpdateView view(data.data(), m, d, DType::kFloat32);
      backend::CoordinateAggregateRequest req;
      req.updates = &view;
      for (std::size_t i = 0; i < m; ++i) req.rows.push_back(i);
      req.statistic = backend::ColumnStatistic::kMedian;
      std::vector<float> out(d);
      backend->aggregate_coordinatewise(req, out.data());
      std::vector<std::vector<double>> sorted(d, std::vector<double>(m));
      for (std::size_t j = 0; j < d; ++j) {
        std::vector<double>& c = sorted[j];
        for (std::size_t i = 0; i < m; ++i) c[i] = data[i * d + j];
        std::sort(c.begin(), c.end());
        const double want = m % 2 ? c[m / 2] : 0.5 * (c[m / 2 - 1] + c[m / 2]);
        EXPECT_EQ(out[j], static_cast<float>(
                              std::clamp(want, -3.4028234663852886e38, 3.4028234663852886e38)))
            << "m=" << m << " kind=" << kind << " col=" << j;
      }
      req.statistic = backend::ColumnStatistic::kTrimmedMean;
      for (std::size_t b : {m / 10, (m - 1) / 2}) {
        req.param = b;
        backend->aggregate_coordinatewise(req, out.data());
        for (std::size_t j = 0; j < d; ++j) {
          double sum = 0, magnitude = 0;
          for (std::size_t i = b; i < m - b; ++i) {
            sum += sorted[j][i];
            magnitude += std::fabs(sorted[j][i]);
          }
          const double want = sum / static_cast<double>(m - 2 * b);
          const float want_f =
              static_cast<float>(std::clamp(want, -3.4028234663852886e38, 3.4028234663852886e38));
          EXPECT_NEAR(out[j], want_f,
                      1e-6 * std::max(1.0, std::fabs(want)) +
                          4.0 * static_cast<double>(m) * 0x1p-52 * magnitude /
                              static_cast<double>(m - 2 * b) +
                          1e-30)
              << "m=" << m << " kind=" << kind << " b=" << b << " col=" << j;
        }
      }
      req.param = 0;
    }
  }
}

}  // namespace
}  // namespace fedguard::test
