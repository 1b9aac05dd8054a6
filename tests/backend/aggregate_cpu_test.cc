// Pass 2 on the CPU: column statistics against sorting, determinism, chunk independence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "kernels/scan_math.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

TEST(ColumnStatistic, MatchesSortingOnTiesAndSignedZeros) {
  std::mt19937_64 rng(test_seed());
  std::uniform_int_distribution<int> pick(-3, 3);
  for (std::size_t m = 1; m <= 40; ++m) {
    std::vector<float> v(m);
    for (float& x : v)
      x = pick(rng) == 0 ? (pick(rng) > 0 ? 0.0f : -0.0f) : static_cast<float>(pick(rng)) * 0.5f;
    Matrix col;
    for (float x : v) col.push_back({x});
    std::vector<float> w = v;
    EXPECT_DOUBLE_EQ(
        backend::cpu::column_statistic(w.data(), m, backend::ColumnStatistic::kMedian, 0),
        ref::median(col)[0]);
    for (std::size_t b = 0; 2 * b < m; ++b) {
      w = v;
      EXPECT_NEAR(
          backend::cpu::column_statistic(w.data(), m, backend::ColumnStatistic::kTrimmedMean, b),
          ref::trimmed_mean(col, b)[0], 1e-12);
    }
  }
}

// Pass 2 of a linear rule is, column by column, the float64 sum in row order of a product
// then a sum (no fused multiply-add), then the references, rounded once to float32: bit for bit
// for every instruction set (this test also runs with FEDGUARD_CPU_LANES=avx2 and sse2), at
// widths that leave a tail after the vector loop and with a chunk width that splits the rows.
TEST(AggregateCpu, LinearIsTheFloat64SumInRowOrderBitForBit) {
  std::mt19937_64 rng(test_seed());
  std::normal_distribution<double> g;
  for (std::size_t d : {1u, 7u, 4097u, 10003u}) {
    const std::size_t n = 9;
    std::vector<float> data(n * d), ref(d);
    for (float& v : data) v = static_cast<float>(g(rng));
    for (float& v : ref) v = static_cast<float>(g(rng));
    const UpdateView view(data.data(), n, d, DType::kFloat32);
    backend::LinearAggregateRequest req;
    req.updates = &view;
    for (std::size_t i = 0; i < n; ++i) {
      if (i == 4) continue;  // a row left out
      req.rows.push_back(i);
      req.coefficients.push_back(g(rng) / 3.0);
    }
    req.references = {ref.data()};
    req.reference_coefficients = {0.3};
    for (std::size_t tile : {0u, 1000u}) {
      req.tile_columns = tile;
      std::vector<float> got(d);
      backend::make_cpu_backend(2, /*team_for_any_size=*/true)->aggregate_linear(req, got.data());
      for (std::size_t j = 0; j < d; ++j) {
        double acc = 0;
        for (std::size_t q = 0; q < req.rows.size(); ++q) {
          const double product =
              req.coefficients[q] * static_cast<double>(data[req.rows[q] * d + j]);
          acc = acc + product;
        }
        const double product = 0.3 * static_cast<double>(ref[j]);
        acc = acc + product;
        ASSERT_EQ(got[j], static_cast<float>(acc))
            << "d " << d << " column " << j << " tile " << tile;
      }
    }
  }
}

// The linear pass's float32 output is kernels::saturate of the float64 sum, value for value
// (the vectorised store included): sums beyond float32's range in both directions, NaN kept,
// signed zeros; rows with coefficient 0 are not read (a NaN there does not reach the output).
TEST(AggregateCpu, LinearOutputSaturatesAsTheScalarRuleAndSkipsZeroCoefficients) {
  const float big = std::numeric_limits<float>::max();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t d : {1u, 5u, 13u, 4099u}) {
    const std::size_t n = 4;
    std::vector<float> data(n * d);
    for (std::size_t j = 0; j < d; ++j) {
      const std::size_t kind = j % 6;
      const float a = kind == 0   ? big
                      : kind == 1 ? -big
                      : kind == 2 ? 1.5f
                      : kind == 3 ? -0.0f
                      : kind == 4 ? big * 0.75f
                                  : 3e-39f;
      data[0 * d + j] = a;
      data[1 * d + j] = a;
      data[2 * d + j] = nan;  // coefficient 0 below: never read
      data[3 * d + j] = (j % 7 == 3) ? nan : a;
    }
    const UpdateView view(data.data(), n, d, DType::kFloat32);
    backend::LinearAggregateRequest req;
    req.updates = &view;
    req.rows = {0, 1, 2, 3};
    req.coefficients = {1.0, 1.0, 0.0, 0.5};
    std::vector<float> got(d);
    backend::make_cpu_backend(1)->aggregate_linear(req, got.data());
    for (std::size_t j = 0; j < d; ++j) {
      double acc = 0;
      for (std::size_t q : {0u, 1u, 3u})
        acc = acc + req.coefficients[q] * static_cast<double>(data[q * d + j]);
      const float want = kernels::saturate(acc);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got[j])) << "d " << d << " column " << j;
      } else {
        EXPECT_EQ(got[j], want) << "d " << d << " column " << j;
        EXPECT_EQ(std::signbit(got[j]), std::signbit(want)) << "d " << d << " column " << j;
      }
    }
  }
}

TEST(AggregateCpu, DeterministicAndChunkIndependent) {
  std::mt19937_64 rng(test_seed());
  Matrix x = random_round(RoundShape{31, 5000, false, false, false, 0}, rng);
  const auto data = to_floats(x);
  const UpdateView view(data.data(), 31, 5000, DType::kFloat32);
  auto backend = backend::make_cpu_backend(2, /*team_for_any_size=*/true);
  for (auto stat : {backend::ColumnStatistic::kMedian, backend::ColumnStatistic::kTrimmedMean,
                    backend::ColumnStatistic::kBulyanMean}) {
    std::vector<std::vector<float>> outs;
    for (std::size_t tile : {0, 7, 64, 5000}) {
      backend::CoordinateAggregateRequest req;
      req.updates = &view;
      for (std::size_t i = 0; i < 31; ++i) req.rows.push_back(i);
      req.statistic = stat;
      req.param = 5;
      req.tile_columns = tile;
      outs.emplace_back(5000);
      backend->aggregate_coordinatewise(req, outs.back().data());
    }
    for (const auto& o : outs) EXPECT_EQ(o, outs[0]);  // bit-identical
  }
  backend::LinearAggregateRequest lin;
  lin.updates = &view;
  for (std::size_t i = 0; i < 31; ++i) {
    lin.rows.push_back(i);
    lin.coefficients.push_back(1.0 / (1.0 + static_cast<double>(i)));
  }
  std::vector<float> a(5000), b(5000);
  lin.tile_columns = 100;
  backend->aggregate_linear(lin, a.data());
  lin.tile_columns = 0;
  backend->aggregate_linear(lin, b.data());
  EXPECT_EQ(a, b);

  // Wide rows: the automatic chunks (equal shares of up to 131,072 columns per worker, the last
  // one shorter here) against narrow ones, on one and two workers.
  const std::size_t wide = 300001;
  Matrix y = random_round(RoundShape{7, wide, false, false, false, 0}, rng);
  const auto wide_data = to_floats(y);
  const UpdateView wide_view(wide_data.data(), 7, wide, DType::kFloat32);
  backend::LinearAggregateRequest wl;
  wl.updates = &wide_view;
  for (std::size_t i = 0; i < 7; ++i) {
    wl.rows.push_back(i);
    wl.coefficients.push_back(0.3 - 0.1 * static_cast<double>(i));
  }
  std::vector<float> narrow(wide), automatic(wide), one_worker(wide);
  wl.tile_columns = 4096;
  backend->aggregate_linear(wl, narrow.data());
  wl.tile_columns = 0;
  backend->aggregate_linear(wl, automatic.data());
  backend::make_cpu_backend(1)->aggregate_linear(wl, one_worker.data());
  EXPECT_EQ(automatic, narrow);
  EXPECT_EQ(one_worker, narrow);
}

}  // namespace
}  // namespace fedguard::test

namespace fedguard::test {
namespace {

// The sorting-network path (m <= 2048) and the selection path (m > 2048), at the sizes where
// the network's padding changes, against sorting in float64.
TEST(AggregateCpu, NetworkAndSelectionPathsMatchSorting) {
  std::mt19937_64 rng(test_seed());
  for (std::size_t m : {1, 2, 3, 16, 17, 64, 65, 127, 128, 129, 2048, 2049}) {
    const std::size_t d = m > 1000 ? 19 : 37;
    Matrix x = random_round(RoundShape{m, d, m % 2 == 0, false, false, 0}, rng);
    const auto data = to_floats(x);
    const UpdateView view(data.data(), m, d, DType::kFloat32);
    auto backend = backend::make_cpu_backend(2, /*team_for_any_size=*/true);
    backend::CoordinateAggregateRequest req;
    req.updates = &view;
    for (std::size_t i = 0; i < m; ++i) req.rows.push_back(i);
    std::vector<float> out(d);
    req.statistic = backend::ColumnStatistic::kMedian;
    backend->aggregate_coordinatewise(req, out.data());
    EXPECT_LT(ref::max_rel_diff(out, ref::median(x)), 1e-6) << "m=" << m;
    req.statistic = backend::ColumnStatistic::kTrimmedMean;
    req.param = (m - 1) / 3;
    backend->aggregate_coordinatewise(req, out.data());
    EXPECT_LT(ref::max_rel_diff(out, ref::trimmed_mean(x, (m - 1) / 3)), 1e-6) << "m=" << m;
  }
}

}  // namespace
}  // namespace fedguard::test
