// Pass 1 and a column statistic in one read (Backend::scan_with_statistic on the CPU): its
// summaries are scan()'s and its statistic aggregate_coordinatewise()'s, bit for bit, at every
// shape, dtype, tile width and thread count; both against a float64 brute force; a NaN or an Inf
// abandons the statistic and leaves the summaries scan()'s; the base class's two-read default.
// Also run with FEDGUARD_CPU_LANES=avx2 (the AVX2 layout kernel's sums) and sse2 (row_stats over
// each tile instead of the layout kernel; tests/CMakeLists.txt).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/lane_select.h"
#include "fedguard/dtype.h"
#include "fedguard/error.h"
#include "support/reference.h"

namespace fedguard::test {
namespace {

using backend::ColumnStatistic;

// A k x d round in the given dtype (float values rounded to it first, so that the brute force
// sees what the backend reads), with a few exact zeros and ties.
struct Round {
  std::vector<float> values;          // k x d, as the backend reads them
  std::vector<std::uint16_t> narrow;  // k x d, float16 / bfloat16 input
  DType dtype = DType::kFloat32;
  std::size_t k = 0, d = 0;

  UpdateView view() const {
    return dtype == DType::kFloat32 ? UpdateView(values.data(), k, d, dtype)
                                    : UpdateView(narrow.data(), k, d, dtype);
  }
};

float round_to(DType dtype, float x, std::uint16_t* bits) {
  if (dtype == DType::kFloat32) return x;
  *bits = dtype == DType::kFloat16 ? float_to_half(x) : float_to_bfloat16(x);
  float back = 0;
  convert_to_float(dtype, bits, &back, 1);
  return back;
}

Round make_round(std::mt19937_64& rng, std::size_t k, std::size_t d, DType dtype) {
  Round r;
  r.k = k, r.d = d, r.dtype = dtype;
  r.values.resize(k * d);
  r.narrow.resize(dtype == DType::kFloat32 ? 0 : k * d);
  std::normal_distribution<double> g;
  std::uniform_int_distribution<int> kind(0, 19);
  for (std::size_t i = 0; i < k; ++i) {
    const double scale = std::exp(g(rng));  // rows of different norms
    for (std::size_t j = 0; j < d; ++j) {
      const int c = kind(rng);
      float x = c == 0 ? 0.0f : c == 1 ? 0.5f : static_cast<float>(scale * g(rng));
      std::uint16_t bits = 0;
      x = round_to(dtype, x, &bits);
      r.values[i * d + j] = x;
      if (!r.narrow.empty()) r.narrow[i * d + j] = bits;
    }
  }
  return r;
}

backend::ScanRequest rows_only(const UpdateView& view, std::vector<std::size_t> rows,
                               std::size_t tile) {
  backend::ScanRequest req;
  req.updates = &view;
  req.rows = std::move(rows);
  req.gram = false;
  req.tile_columns = tile;
  return req;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_same_summaries(const backend::ScanSummaries& got, const backend::ScanSummaries& want) {
  EXPECT_EQ(got.k, want.k);
  EXPECT_EQ(got.r, want.r);
  EXPECT_EQ(got.tile_columns, want.tile_columns);
  EXPECT_TRUE(same_bits(got.norms_sq, want.norms_sq));
  EXPECT_TRUE(same_bits(got.centre_proj, want.centre_proj));
  EXPECT_EQ(got.positive, want.positive);
  EXPECT_EQ(got.negative, want.negative);
  EXPECT_EQ(got.zero, want.zero);
  EXPECT_EQ(got.finite, want.finite);
  EXPECT_TRUE(got.gram.empty());
  EXPECT_TRUE(got.sketch.empty());
  EXPECT_EQ(got.centre_sq, want.centre_sq);
}

// The float64 brute force of the statistic over rows `rows` of the round.
std::vector<double> brute_statistic(const Round& r, const std::vector<std::size_t>& rows,
                                    ColumnStatistic statistic, std::size_t param) {
  Matrix x;
  for (std::size_t i : rows)
    x.emplace_back(r.values.begin() + static_cast<std::ptrdiff_t>(i * r.d),
                   r.values.begin() + static_cast<std::ptrdiff_t>((i + 1) * r.d));
  return statistic == ColumnStatistic::kMedian ? ref::median(x) : ref::trimmed_mean(x, param);
}

struct Shape {
  std::size_t k, d;
};

TEST(ScanStatisticCpu, IsScanAndPassTwoBitForBitAndTheFloat64BruteForce) {
  std::mt19937_64 rng(test_seed());
  const std::vector<Shape> shapes = {{1, 1},     {2, 17},    {3, 100},     {7, 1000},
                                     {16, 4097}, {33, 2051}, {100, 20000}, {257, 3001}};
  std::size_t cases = 0;
  for (const Shape& shape : shapes) {
    for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      const Round round = make_round(rng, shape.k, shape.d, dtype);
      const UpdateView view = round.view();
      // Every row, or a subset in another order (the rows the engine scans).
      std::vector<std::size_t> rows(shape.k);
      for (std::size_t i = 0; i < shape.k; ++i) rows[i] = i;
      if (shape.k > 4) {
        std::shuffle(rows.begin(), rows.end(), rng);
        rows.resize(shape.k - 2);
      }
      const std::size_t m = rows.size();
      for (int threads : {1, 2}) {
        auto cpu = backend::make_cpu_backend(threads, /*team_for_any_size=*/true);
        // 4096: tiles wider than a chunk of lane blocks at k >= 65 (chunks carry the row sums).
        for (std::size_t tile :
             {std::size_t{0}, std::size_t{7}, std::size_t{96}, std::size_t{4096}}) {
          for (ColumnStatistic statistic :
               {ColumnStatistic::kMedian, ColumnStatistic::kTrimmedMean}) {
            const std::size_t param =
                statistic == ColumnStatistic::kMedian ? 0 : std::min<std::size_t>((m - 1) / 2, 3);
            SCOPED_TRACE(::testing::Message()
                         << "k " << shape.k << " d " << shape.d << " dtype " << dtype_name(dtype)
                         << " threads " << threads << " tile " << tile << " param " << param);
            const backend::ScanRequest req = rows_only(view, rows, tile);
            std::vector<float> fused(shape.d, -1.0f), two(shape.d, -2.0f);
            const backend::ScanWithStatistic got =
                cpu->scan_with_statistic(req, statistic, param, fused.data());
            ASSERT_TRUE(got.statistic);
            expect_same_summaries(got.summaries, cpu->scan(req));
            backend::CoordinateAggregateRequest agg;
            agg.updates = &view;
            agg.rows = rows;
            agg.statistic = statistic;
            agg.param = param;
            cpu->aggregate_coordinatewise(agg, two.data());
            EXPECT_TRUE(same_bits(fused, two));
            // The brute force: the statistic of the float values, and each row's float64 norm
            // and sign counts.
            const std::vector<double> want = brute_statistic(round, rows, statistic, param);
            for (std::size_t j = 0; j < shape.d; ++j)
              ASSERT_NEAR(fused[j], want[j], 1e-6 * (1.0 + std::fabs(want[j]))) << "column " << j;
            for (std::size_t p = 0; p < m; ++p) {
              double sq = 0;
              std::int64_t pos = 0, neg = 0;
              for (std::size_t j = 0; j < shape.d; ++j) {
                const double x = round.values[rows[p] * shape.d + j];
                sq += x * x;
                pos += x > 0;
                neg += x < 0;
              }
              EXPECT_NEAR(got.summaries.norms_sq[p], sq, 1e-12 * sq);
              EXPECT_EQ(got.summaries.positive[p], pos);
              EXPECT_EQ(got.summaries.negative[p], neg);
              EXPECT_EQ(got.summaries.zero[p], static_cast<std::int64_t>(shape.d) - pos - neg);
            }
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, shapes.size() * 3 * 2 * 4 * 2);
}

// A row with a NaN or an Inf anywhere: the statistic is abandoned (the engine rejects the row
// and runs pass 2 over the others), and the summaries are still scan()'s, the row flagged.
TEST(ScanStatisticCpu, ANonFiniteValueAbandonsTheStatisticAndKeepsTheSummaries) {
  std::mt19937_64 rng(test_seed());
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (const Shape& shape : {Shape{5, 33}, Shape{40, 5000}, Shape{100, 70001}}) {
    for (float bad : bad_values) {
      // float32, and float16 (converted in the layout's registers on AVX-512 processors).
      const DType dtype = bad == bad_values[1] ? DType::kFloat16 : DType::kFloat32;
      Round round = make_round(rng, shape.k, shape.d, dtype);
      std::uniform_int_distribution<std::size_t> row(0, shape.k - 1), col(0, shape.d - 1);
      const std::size_t bad_row = row(rng), bad_col = col(rng);
      round.values[bad_row * shape.d + bad_col] = bad;
      if (dtype == DType::kFloat16) round.narrow[bad_row * shape.d + bad_col] = float_to_half(bad);
      const UpdateView view = round.view();
      std::vector<std::size_t> rows(shape.k);
      for (std::size_t i = 0; i < shape.k; ++i) rows[i] = i;
      for (int threads : {1, 2}) {
        SCOPED_TRACE(::testing::Message() << "k " << shape.k << " d " << shape.d << " bad " << bad
                                          << " at column " << bad_col);
        auto cpu = backend::make_cpu_backend(threads, true);
        const backend::ScanRequest req = rows_only(view, rows, 0);
        std::vector<float> out(shape.d);
        const backend::ScanWithStatistic got =
            cpu->scan_with_statistic(req, ColumnStatistic::kMedian, 0, out.data());
        EXPECT_FALSE(got.statistic);
        const backend::ScanSummaries want = cpu->scan(req);
        expect_same_summaries(got.summaries, want);
        EXPECT_EQ(got.summaries.finite[bad_row], 0);
        EXPECT_EQ(std::count(got.summaries.finite.begin(), got.summaries.finite.end(), 0), 1);
      }
    }
  }
}

// More rows than the networks take: the median and the trimmed mean by counting where the
// processor has AVX-512 or AVX2 (lane_select.h), equal to pass 2's bit for bit; otherwise the
// summaries only (pass 2 selects column by column).
TEST(ScanStatisticCpu, BeyondTheNetworksTheStatisticByCountingElseOnlyTheSummaries) {
  std::mt19937_64 rng(test_seed());
  const Round round = make_round(rng, 2049, 40, DType::kFloat32);
  const UpdateView view = round.view();
  std::vector<std::size_t> rows(2049);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  auto cpu = backend::make_cpu_backend(2, true);
  const backend::ScanRequest req = rows_only(view, rows, 0);
  const bool counting = backend::cpu::lane_select_available();
  for (auto [statistic, param] : {std::pair{ColumnStatistic::kMedian, std::size_t{0}},
                                  std::pair{ColumnStatistic::kTrimmedMean, std::size_t{200}}}) {
    std::vector<float> out(40, -1.0f);
    const backend::ScanWithStatistic got =
        cpu->scan_with_statistic(req, statistic, param, out.data());
    expect_same_summaries(got.summaries, cpu->scan(req));
    EXPECT_EQ(got.statistic, counting);
    if (!got.statistic) continue;
    backend::CoordinateAggregateRequest agg;
    agg.updates = &view;
    agg.rows = rows;
    agg.statistic = statistic;
    agg.param = param;
    std::vector<float> want(40);
    cpu->aggregate_coordinatewise(agg, want.data());
    EXPECT_EQ(0, std::memcmp(out.data(), want.data(), sizeof(float) * 40));
  }
}

TEST(ScanStatisticCpu, RefusesRequestsThatWantMoreOrAStatisticTheRowsCannotGive) {
  std::mt19937_64 rng(test_seed());
  const Round round = make_round(rng, 6, 50, DType::kFloat32);
  const UpdateView view = round.view();
  auto cpu = backend::make_cpu_backend(1);
  std::vector<float> out(50);
  backend::ScanRequest req = rows_only(view, {0, 1, 2, 3, 4, 5}, 0);
  req.gram = true;
  EXPECT_THROW(cpu->scan_with_statistic(req, ColumnStatistic::kMedian, 0, out.data()), Error);
  req.gram = false;
  req.sketch_dim = 8;
  EXPECT_THROW(cpu->scan_with_statistic(req, ColumnStatistic::kMedian, 0, out.data()), Error);
  req.sketch_dim = 0;
  EXPECT_THROW(cpu->scan_with_statistic(req, ColumnStatistic::kTrimmedMean, 3, out.data()), Error);
  EXPECT_THROW(cpu->scan_with_statistic(req, ColumnStatistic::kMedian, 0, nullptr), Error);
  req.rows = {0, 6};  // out of range
  EXPECT_THROW(cpu->scan_with_statistic(req, ColumnStatistic::kMedian, 0, out.data()), Error);
}

// A backend that does not override it (as the CUDA backend): two reads, the same results.
class TwoReadBackend final : public backend::Backend {
 public:
  std::string name() const override { return "two-read"; }

 protected:
  backend::ScanSummaries run_scan(const backend::ScanRequest& r) override {
    return backend::cpu::scan(r, 1);
  }
  void run_aggregate_linear(const backend::LinearAggregateRequest& r, float* out) override {
    backend::cpu::aggregate_linear(r, out, 1);
  }
  void run_aggregate_coordinatewise(const backend::CoordinateAggregateRequest& r,
                                    float* out) override {
    backend::cpu::aggregate_coordinatewise(r, out, 1);
  }
};

TEST(ScanStatisticCpu, TheBaseClassReadsTwiceWithTheSameResults) {
  std::mt19937_64 rng(test_seed());
  Round round = make_round(rng, 30, 3000, DType::kFloat32);
  const UpdateView view = round.view();
  std::vector<std::size_t> rows(30);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = i;
  TwoReadBackend two;
  EXPECT_FALSE(two.reads_once_for_statistic(30, 3000));
  auto cpu = backend::make_cpu_backend(1);
  const backend::ScanRequest req = rows_only(view, rows, 0);
  std::vector<float> a(3000), b(3000);
  const auto got = two.scan_with_statistic(req, ColumnStatistic::kTrimmedMean, 5, a.data());
  const auto want = cpu->scan_with_statistic(req, ColumnStatistic::kTrimmedMean, 5, b.data());
  ASSERT_TRUE(got.statistic);
  ASSERT_TRUE(want.statistic);
  EXPECT_TRUE(same_bits(a, b));
  expect_same_summaries(got.summaries, want.summaries);
  round.values[7 * 3000 + 11] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(two.scan_with_statistic(req, ColumnStatistic::kMedian, 0, a.data()).statistic);
}

}  // namespace
}  // namespace fedguard::test
