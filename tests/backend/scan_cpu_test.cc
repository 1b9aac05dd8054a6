// Pass 1 on the CPU against float64 brute force: pairwise distances and norms recovered from
// the centred Gram summaries, sign counts, finiteness; tile-width independence; overflow-safe
// Gram for enormous rows; precision for near-duplicate rows with a large common offset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backend/backend.h"
#include "fedguard/dtype.h"
#include "geometry/gram_space.h"
#include "kernels/scan_math.h"
#include "support/engine_runner.h"
#include "support/reference.h"
#include "synthetic/round.h"

namespace fedguard::test {
namespace {

backend::ScanSummaries scan(const std::vector<float>& data, std::size_t n, std::size_t d,
                            std::size_t tile, std::vector<const float*> refs = {}) {
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  req.references = std::move(refs);
  req.tile_columns = tile;
  return backend::make_cpu_backend(2, /*team_for_any_size=*/true)->scan(req);
}

double dist_from(const backend::ScanSummaries& s, std::size_t a, std::size_t b) {
  return s.gram[a * s.k + a] + s.gram[b * s.k + b] - 2 * s.gram[a * s.k + b];
}

// Two scans' summaries equal bit for bit, every field a later stage reads.
void expect_same_summaries(const backend::ScanSummaries& a, const backend::ScanSummaries& b) {
  EXPECT_EQ(a.finite, b.finite);
  EXPECT_EQ(a.gram, b.gram);
  EXPECT_EQ(a.subset_grams, b.subset_grams);
  EXPECT_EQ(a.sketch, b.sketch);
  EXPECT_EQ(a.norms_sq, b.norms_sq);
  EXPECT_EQ(a.centre_proj, b.centre_proj);
  EXPECT_EQ(a.centre_sq, b.centre_sq);
  EXPECT_EQ(a.positive, b.positive);
  EXPECT_EQ(a.negative, b.negative);
}

struct ScanCase {
  std::size_t n, d, tile;
  double offset;
};

void PrintTo(const ScanCase& c, std::ostream* os) {
  *os << "n" << c.n << "_d" << c.d << "_tile" << c.tile << "_offset" << c.offset;
}

class ScanTest : public ::testing::TestWithParam<ScanCase> {};

TEST_P(ScanTest, DistancesNormsSignsMatchBruteForce) {
  const ScanCase c = GetParam();
  std::mt19937_64 rng(test_seed());
  Matrix x = random_round(RoundShape{c.n, c.d, false, false, false, c.offset}, rng);
  x[0][0] = 0.0;  // a zero for the sign counts
  const std::vector<float> data = to_floats(x);
  const backend::ScanSummaries s = scan(data, c.n, c.d, c.tile);
  double scale = 0;
  for (std::size_t a = 0; a < c.n; ++a)
    for (std::size_t b = 0; b < c.n; ++b) scale = std::max(scale, ref::sq_dist(x[a], x[b]));
  for (std::size_t a = 0; a < c.n; ++a) {
    EXPECT_NEAR(s.norms_sq[a], ref::sq_dist(x[a], ref::Vec(c.d, 0.0)), 1e-12 * s.norms_sq[a]);
    std::int64_t pos = 0, neg = 0, zero = 0;
    for (double v : x[a]) (v > 0 ? pos : v < 0 ? neg : zero)++;
    EXPECT_EQ(s.positive[a], pos);
    EXPECT_EQ(s.negative[a], neg);
    EXPECT_EQ(s.zero[a], zero);
    for (std::size_t b = 0; b < c.n; ++b)
      EXPECT_NEAR(dist_from(s, a, b), ref::sq_dist(x[a], x[b]), 1e-5 * scale) << a << "," << b;
  }
  // ||x_i||^2 also follows from the centred summaries: G_ii + 2 m_i + c.c.
  for (std::size_t a = 0; a < c.n; ++a)
    EXPECT_NEAR(s.gram[a * c.n + a] + 2 * s.centre_proj[a] + s.centre_sq, s.norms_sq[a],
                1e-5 * (s.norms_sq[a] + s.centre_sq));
}

INSTANTIATE_TEST_SUITE_P(Shapes, ScanTest,
                         ::testing::Values(ScanCase{5, 1, 64, 0}, ScanCase{9, 1000, 64, 0},
                                           ScanCase{10, 1000, 100, 0}, ScanCase{33, 513, 0, 0},
                                           ScanCase{8, 2000, 512, 1e4}, ScanCase{64, 300, 64, 0}));

// Row counts at every edge of scan_cpu.cc's tile_gram on AVX-512 processors (blocks of 16 rows
// by up to 24 product columns, one instantiation per block width; one block of k columns up to
// k = 16) and of the SSYRK it gives way to above 512 rows; elsewhere the SSYRK for all. Every
// pairwise distance against float64, with a last tile narrower than the others.
TEST(ScanCpu, EveryRowCountAtTheGramKernelsEdgesMatchesBruteForce) {
  std::mt19937_64 rng(test_seed());
  std::vector<std::size_t> counts;
  for (std::size_t n = 1; n <= 50; ++n) counts.push_back(n);
  for (std::size_t n : {63, 64, 65, 100, 511, 512, 513}) counts.push_back(n);
  for (std::size_t n : counts) {
    const std::size_t d = n > 100 ? 300 : 1100;
    Matrix x = random_round(RoundShape{n, d, false, false, false, 3.0}, rng);
    const backend::ScanSummaries s = scan(to_floats(x), n, d, n > 100 ? 128 : 256);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b) {
        const double want = ref::sq_dist(x[a], x[b]);
        ASSERT_NEAR(dist_from(s, a, b), want, 1e-5 * (1 + want))
            << "n=" << n << " " << a << "," << b;
        ASSERT_EQ(s.gram[a * n + b], s.gram[b * n + a]) << "n=" << n << " " << a << "," << b;
      }
  }
}

TEST(ScanCpu, TileWidthChangesOnlyRounding) {
  std::mt19937_64 rng(test_seed());
  Matrix x = random_round(RoundShape{17, 3001, false, false, false, 0}, rng);
  const auto data = to_floats(x);
  const auto a = scan(data, 17, 3001, 64), b = scan(data, 17, 3001, 4096);
  for (std::size_t i = 0; i < 17; ++i)
    for (std::size_t j = 0; j < 17; ++j)
      EXPECT_NEAR(dist_from(a, i, j), dist_from(b, i, j), 1e-5 * (1 + dist_from(b, i, j)));
}

TEST(ScanCpu, NearDuplicatesWithLargeOffsetKeepPrecision) {
  // Sybil-like rows: a common offset of 1e3 and differences of 1e-3. Uncentred float32 products
  // would lose the differences entirely; the centred Gram must recover them.
  const std::size_t n = 12, d = 4096;
  synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.offset = 1000.0;
  spec.noise_scale = 1e-3;
  spec.seed = test_seed();
  const synthetic::Round round = synthetic::generate(spec);
  Matrix x(n, ref::Vec(d));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j) x[i][j] = round.updates[i * d + j];
  const auto s = scan(to_floats(x), n, d, 512);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a + 1; b < n; ++b) {
      const double want = ref::sq_dist(x[a], x[b]);
      EXPECT_NEAR(dist_from(s, a, b), want, 2e-3 * want) << a << "," << b;
    }
}

TEST(ScanCpu, EnormousRowsNeitherOverflowNorSpoilTheOthers) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 9, d = 1000;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  for (double& v : x[4]) v = 3.0e38 * (v > 0 ? 1 : -1);  // float32 products would overflow
  for (double& v : x[7]) v *= 1e30;
  const auto s = scan(to_floats(x), n, d, 128);
  for (std::size_t a = 0; a < n; ++a) {
    EXPECT_TRUE(s.finite[a]);
    for (std::size_t b = 0; b < n; ++b) {
      const double want = ref::sq_dist(x[a], x[b]);
      EXPECT_TRUE(std::isfinite(dist_from(s, a, b)));
      EXPECT_NEAR(dist_from(s, a, b), want, 1e-5 * want + 1e-9) << a << "," << b;
    }
  }
}

TEST(ScanCpu, NonFiniteRowsAreFlaggedAndLeaveOthersExact) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 8, d = 700;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  auto data = to_floats(x);
  data[2 * d + 650] = std::numeric_limits<float>::quiet_NaN();  // in the last tile
  data[5 * d + 3] = std::numeric_limits<float>::infinity();     // in the first tile
  data[6 * d + 100] = -std::numeric_limits<float>::infinity();
  const auto s = scan(data, n, d, 64);
  for (std::size_t a = 0; a < n; ++a) {
    const bool bad = a == 2 || a == 5 || a == 6;
    EXPECT_EQ(s.finite[a], bad ? 0 : 1) << a;
    if (bad) continue;
    for (std::size_t b = 0; b < n; ++b) {
      if (b == 2 || b == 5 || b == 6) continue;
      const double want = ref::sq_dist(x[a], x[b]);
      EXPECT_NEAR(dist_from(s, a, b), want, 1e-5 * (1 + want));
    }
  }
}

// Each worker thread keeps its workspace for the next scan of the same shape
// (scan_cpu.cc, WorkspaceLease): a scan that inherits one from a round with non-finite rows,
// an enormous row and column subsets returns bit for bit what it returns on a fresh one.
TEST(ScanCpu, AReusedWorkspaceGivesTheFreshResultBitForBit) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 21, d = 900, tile = 128;
  auto round = [&](bool hostile) {
    auto data = to_floats(random_round(RoundShape{n, d, false, false, false, 0}, rng));
    if (hostile) {
      data[3 * d + 5] = std::numeric_limits<float>::quiet_NaN();
      data[7 * d + 870] = -std::numeric_limits<float>::infinity();
      for (std::size_t j = 0; j < d; ++j) data[11 * d + j] *= 1e30f;
    }
    return data;
  };
  const std::vector<float> hostile = round(true), other = round(false), probe = round(false);
  auto run = [&](const std::vector<float>& data, std::size_t cols, bool subsets) {
    const UpdateView view(data.data(), n, cols, DType::kFloat32);
    backend::ScanRequest req;
    req.updates = &view;
    for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
    req.tile_columns = tile;
    if (subsets) req.column_subsets = {{1, 2, 300, 301, 899}, {0, 450}};
    return backend::make_cpu_backend(1)->scan(req);
  };
  // Fresh: the thread's cached workspace is of another shape (d - 1 columns).
  run(other, d - 1, false);
  const backend::ScanSummaries fresh = run(probe, d, true);
  run(hostile, d, true);  // leaves its tiles, scales and subset cursors in the workspace
  const backend::ScanSummaries reused = run(probe, d, true);
  expect_same_summaries(reused, fresh);
}

// The summation orders host/backend/cpu/scan_cpu.cc documents, followed exactly (one thread, so
// tiles in order): per row, sum x^2 in eight lanes (lane j mod 8; the columns past the last
// full group of eight into lane 0; lanes added in order); the centre over the sane rows in
// chunks of kernels::kCentreRowChunk (shared with the CUDA backend, so the CPU's and GPU's
// centres are equal bit for bit); c . (x - c) in column order alternately into two sums (even
// and odd columns of the full groups of eight; the rest into the even one). The round has a row
// that is not sane in one tile (its chunk's sum is taken again) and a row that turns non-finite
// in the middle of a tile, and n, the tile width and the last tile are not multiples of eight.
TEST(ScanCpu, SummationOrdersAreTheDocumentedOnesBitForBit) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 70, d = 1003, tile = 256;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  auto data = to_floats(x);
  for (std::size_t j = 300; j < 400; ++j) data[40 * d + j] *= 1e3f;  // not sane in tile 1
  data[5 * d + 600] = std::numeric_limits<float>::quiet_NaN();       // non-finite from tile 2
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  req.tile_columns = tile;
  const auto s = backend::make_cpu_backend(1)->scan(req);

  std::vector<double> norms(n, 0.0), proj(n, 0.0);
  std::vector<std::uint8_t> finite(n, 1);
  double centre_sq = 0;
  for (std::size_t col0 = 0; col0 < d; col0 += tile) {
    const std::size_t w = std::min(tile, d - col0), w8 = w / 8 * 8;
    auto at = [&](std::size_t p, std::size_t j) { return data[p * d + col0 + j]; };
    std::vector<float> max_abs(n, 0.0f), maxima;
    for (std::size_t p = 0; p < n; ++p) {
      if (!finite[p]) continue;
      double lane[8] = {};
      for (std::size_t j = 0; j < w; ++j) {
        const double v = at(p, j);
        lane[j < w8 ? j % 8 : 0] += v * v;
        max_abs[p] = std::max(max_abs[p], std::fabs(at(p, j)));
        if (!std::isfinite(at(p, j))) finite[p] = 0;
      }
      if (!finite[p]) continue;
      double sq = 0;
      for (double l : lane) sq += l;
      norms[p] += sq;
      maxima.push_back(max_abs[p]);
    }
    std::sort(maxima.begin(), maxima.end());
    const float limit = maxima[(maxima.size() - 1) / 2] * 4.0f;
    std::vector<std::uint8_t> sane(n);
    std::size_t sane_rows = 0;
    for (std::size_t p = 0; p < n; ++p) sane_rows += sane[p] = finite[p] && max_abs[p] <= limit;
    if (col0 == tile) {
      ASSERT_FALSE(sane[40]);  // the enormous row is left out in tile 1
    }
    std::vector<float> c(w);
    double cc = 0;
    for (std::size_t j = 0; j < w; ++j) {
      double sum = 0;
      for (std::size_t p0 = 0; p0 < n; p0 += kernels::kCentreRowChunk) {
        double part = 0;
        for (std::size_t p = p0; p < std::min(n, p0 + kernels::kCentreRowChunk); ++p)
          if (sane[p]) part += at(p, j);
        sum += part;
      }
      c[j] = static_cast<float>(sum * (1.0 / static_cast<double>(sane_rows)));
      cc += static_cast<double>(c[j]) * c[j];
    }
    centre_sq += cc;
    for (std::size_t p = 0; p < n; ++p) {
      if (!finite[p]) continue;
      double even = 0, odd = 0;
      for (std::size_t j = 0; j < w; ++j) {
        const double term = static_cast<double>(c[j]) * static_cast<float>(at(p, j) - c[j]);
        (j < w8 && j % 2 == 1 ? odd : even) += term;
      }
      proj[p] += even + odd;
    }
  }
  EXPECT_EQ(s.centre_sq, centre_sq);
  for (std::size_t p = 0; p < n; ++p) {
    ASSERT_EQ(s.finite[p], finite[p]) << p;
    if (!finite[p]) continue;
    EXPECT_EQ(s.norms_sq[p], norms[p]) << p;
    EXPECT_EQ(s.centre_proj[p], proj[p]) << p;
  }
  EXPECT_EQ(finite[5], 0);
}

// Pass 1 without a Gram reads the rows in place with the instruction set's own kernel
// (AVX-512, AVX2 or plain; this test also runs capped at AVX2 and SSE2, tests/CMakeLists.txt):
// each must give the documented order bit for bit: per tile, sum x^2 in eight lanes (lane
// j mod 8, the columns past the last full group of eight into lane 0, lanes added in order),
// exact sign counts, and a NaN or Inf anywhere flags the row. Tile widths that are a multiple
// of sixteen, leave a full group of eight after the sixteens, leave a few values, or are
// shorter than one vector.
TEST(ScanCpu, NormsWithoutGramFollowTheDocumentedOrderBitForBit) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 13, d = 1003;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  auto data = to_floats(x);
  for (std::size_t j = 0; j < d; j += 7) data[2 * d + j] = 0.0f;  // exact zeros
  for (std::size_t j = 0; j < d; ++j) data[3 * d + j] *= 1e30f;   // x^2 > FLT_MAX
  data[5 * d + 610] = std::numeric_limits<float>::quiet_NaN();    // in a late tile
  data[8 * d + 3] = std::numeric_limits<float>::infinity();       // in the first
  data[9 * d + 1002] = -std::numeric_limits<float>::infinity();   // the last column
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  // Per tile and row: x^2 in eight lanes (lane j mod 8, the columns past the last full group
  // of eight into lane 0), the lanes added in order. Worker t of W takes the consecutive tiles
  // [t T / W, (t + 1) T / W) and adds their sums in tile order; the workers' totals are added
  // in worker order.
  auto tile_sq = [&](std::size_t p, std::size_t col0, std::size_t w) {
    const std::size_t w8 = w / 8 * 8;
    double lane[8] = {};
    for (std::size_t j = 0; j < w; ++j) {
      const float v = data[p * d + col0 + j];
      lane[j < w8 ? j % 8 : 0] += static_cast<double>(v) * v;
    }
    double sq = 0;
    for (double l : lane) sq += l;
    return sq;
  };
  for (const int threads : {1, 2, 3}) {
    for (const std::size_t tile :
         {std::size_t{256}, std::size_t{200}, std::size_t{235}, std::size_t{7}}) {
      backend::ScanRequest req;
      req.updates = &view;
      req.gram = false;
      for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
      req.tile_columns = tile;
      const auto s = backend::make_cpu_backend(threads, /*team_for_any_size=*/true)->scan(req);
      const std::size_t tiles = (d + tile - 1) / tile;
      const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), tiles);
      for (std::size_t p = 0; p < n; ++p) {
        double norm = 0;
        std::int64_t pos = 0, neg = 0;
        bool finite = true;
        for (std::size_t t = 0; t < workers; ++t) {
          double worker = 0;
          for (std::size_t i = tiles * t / workers; i < tiles * (t + 1) / workers; ++i)
            worker += tile_sq(p, i * tile, std::min(tile, d - i * tile));
          norm = t == 0 ? worker : norm + worker;
        }
        for (std::size_t j = 0; j < d; ++j) {
          const float v = data[p * d + j];
          pos += v > 0;
          neg += v < 0;
          finite = finite && std::isfinite(v);
        }
        const std::string where = "row " + std::to_string(p) + ", tile " + std::to_string(tile) +
                                  ", " + std::to_string(threads) + " threads";
        ASSERT_EQ(static_cast<bool>(s.finite[p]), finite) << where;
        if (!finite) continue;
        EXPECT_EQ(s.norms_sq[p], norm) << where;
        EXPECT_EQ(s.positive[p], pos) << where;
        EXPECT_EQ(s.negative[p], neg) << where;
        EXPECT_EQ(s.zero[p], static_cast<std::int64_t>(d) - pos - neg) << where;
      }
      EXPECT_FALSE(s.finite[5]);
      EXPECT_FALSE(s.finite[8]);
      EXPECT_FALSE(s.finite[9]);
      EXPECT_TRUE(s.finite[3]);
    }
  }
}

TEST(ScanCpu, ReferenceProjections) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 7, d = 900;
  Matrix x = random_round(RoundShape{n, d, false, false, false, 0}, rng);
  Matrix refs = random_round(RoundShape{2, d, false, false, false, 0}, rng);
  const auto r0 = to_floats({refs[0]}), r1 = to_floats({refs[1]});
  const auto s = scan(to_floats(x), n, d, 256, {r0.data(), r1.data()});
  const geometry::GramSpace space(s);
  // Raw combinations: (x_3 - ref_1) and (2 x_0 + ref_0).
  std::vector<double> raw(2 * space.dim(), 0.0);
  raw[3] = 1;
  raw[n + 1] = -1;
  raw[space.dim() + 0] = 2;
  raw[space.dim() + n] = 1;
  const auto norms = space.norms_sq(raw, 2);
  ref::Vec u(d), v(d);
  for (std::size_t j = 0; j < d; ++j) {
    u[j] = x[3][j] - refs[1][j];
    v[j] = 2 * x[0][j] + refs[0][j];
  }
  EXPECT_NEAR(norms[0], ref::sq_dist(u, ref::Vec(d, 0.0)), 1e-5 * norms[0]);
  EXPECT_NEAR(norms[1], ref::sq_dist(v, ref::Vec(d, 0.0)), 1e-5 * norms[1]);
  const auto k = space.centred_gram(raw, 2);
  EXPECT_NEAR(k[0] + k[3] - 2 * k[1], ref::sq_dist(u, v), 1e-5 * ref::sq_dist(u, v));
}

// Issue #16: a row whose values are all subnormal got a power-of-two scale near 2^140, which as
// a float32 is inf: the scaled row became inf / NaN and so did its Gram entries and its sketch.
// The scale is now applied in float64 (kernels/scan_math.h, shared with the CUDA kernels).
TEST(ScanCpu, SubnormalOnlyRowsScaleWithoutOverflow) {
  const std::size_t n = 5, d = 300, q = 8;
  std::vector<float> data(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)  // every row subnormal-only: the centre and x - c are too
      data[i * d + j] =
          static_cast<float>(1e-40 * (1.0 + 0.37 * static_cast<double>((i * 7 + j * 3) % 11)) *
                             ((i + j) % 3 == 0 ? -1.0 : 1.0));
  ASSERT_LT(std::fabs(data[d + 1]), std::numeric_limits<float>::min());
  ASSERT_GT(std::fabs(data[d + 1]), 0.0f);
  const UpdateView view(data.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  req.tile_columns = 128;
  req.sketch_dim = q;
  req.sketch_seed = 3;
  const backend::ScanSummaries s = backend::make_cpu_backend(1)->scan(req);
  for (std::size_t a = 0; a < n; ++a) {
    EXPECT_EQ(s.finite[a], 1);
    for (std::size_t b = 0; b < n; ++b) {
      ASSERT_TRUE(std::isfinite(s.gram[a * n + b])) << a << "," << b;
      // Distances against float64 brute force (the centre cancels).
      double ref = 0;
      for (std::size_t j = 0; j < d; ++j) {
        const double v = static_cast<double>(data[a * d + j]) - data[b * d + j];
        ref += v * v;
      }
      EXPECT_NEAR(dist_from(s, a, b), ref, 1e-5 * ref + 1e-300) << a << "," << b;
    }
    for (std::size_t c = 0; c < q; ++c) {
      double ref = 0, bound = 0;
      for (std::size_t j = 0; j < d; ++j) {
        ref += static_cast<double>(data[a * d + j]) * backend::sketch_entry(3, j, c, q);
        bound +=
            std::fabs(static_cast<double>(data[a * d + j]) * backend::sketch_entry(3, j, c, q));
      }
      ASSERT_TRUE(std::isfinite(s.sketch[a * q + c]));
      EXPECT_NEAR(s.sketch[a * q + c], ref, 1e-6 * bound) << a << "," << c;
    }
  }
}

// The float64 -> float32 saturation keeps NaN (the CUDA kernels' fmin/fmax turned it into
// -FLT_MAX) and clamps only what is beyond float32's range; one function for both backends.
TEST(ScanMath, SaturateKeepsNaNAndClampsInfinities) {
  EXPECT_TRUE(std::isnan(kernels::saturate(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(kernels::saturate(1e300), std::numeric_limits<float>::max());
  EXPECT_EQ(kernels::saturate(-std::numeric_limits<double>::infinity()),
            -std::numeric_limits<float>::max());
  EXPECT_EQ(kernels::saturate(0.5), 0.5f);
  EXPECT_TRUE(std::signbit(kernels::saturate(-0.0)));
  // The row scale of a subnormal maximum is beyond float32, and applying it stays finite.
  const float tiny = 1e-44f;
  const double sc = kernels::row_scale(tiny);
  EXPECT_FALSE(std::isfinite(static_cast<float>(sc)));
  EXPECT_GE(kernels::apply_scale(tiny, sc), 0.5f);
  EXPECT_LT(kernels::apply_scale(tiny, sc), 1.0f);
  EXPECT_EQ(kernels::apply_scale(-tiny, sc), -kernels::apply_scale(tiny, sc));
  EXPECT_EQ(kernels::row_scale(0.0f), 1.0);
  EXPECT_EQ(kernels::row_scale(1.0f), 1.0);
  EXPECT_EQ(kernels::row_scale(3e20f), kernels::unit_scale(3e20f));
}

// Pass 1 reads float32 rows where they are and converts float16 / bfloat16 rows into its tile
// (scan_cpu.cc, step 1): a narrow round and the float32 round of the same values (conversion is
// exact) give the same summaries bit for bit, with the Gram, the sketch, a row that turns
// non-finite in a late tile and one from the first, at a tile width that leaves a short last tile.
TEST(ScanCpu, NarrowRowsGiveTheirFloat32RoundBitForBit) {
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 19, d = 1000, tile = 192;
  const std::vector<float> raw =
      to_floats(random_round(RoundShape{n, d, false, false, false, 0}, rng));
  for (const DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    std::vector<std::uint16_t> narrow(n * d);
    std::vector<float> wide(n * d);
    for (std::size_t i = 0; i < n * d; ++i) {
      narrow[i] = dtype == DType::kFloat16 ? float_to_half(raw[i]) : float_to_bfloat16(raw[i]);
      wide[i] = dtype == DType::kFloat16 ? half_to_float(narrow[i]) : bfloat16_to_float(narrow[i]);
    }
    const std::uint16_t nan_bits = dtype == DType::kFloat16 ? 0x7e00 : 0x7fc0;
    narrow[4 * d + 900] = nan_bits;  // non-finite from the fifth tile
    wide[4 * d + 900] = std::numeric_limits<float>::quiet_NaN();
    narrow[9 * d + 2] = dtype == DType::kFloat16 ? 0x7c00 : 0x7f80;  // +inf in the first tile
    wide[9 * d + 2] = std::numeric_limits<float>::infinity();
    auto run = [&](const void* data, DType type) {
      const UpdateView view(data, n, d, type);
      backend::ScanRequest req;
      req.updates = &view;
      for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
      req.tile_columns = tile;
      req.sketch_dim = 32;
      req.sketch_seed = 11;
      return backend::make_cpu_backend(2, /*team_for_any_size=*/true)->scan(req);
    };
    const backend::ScanSummaries a = run(narrow.data(), dtype),
                                 b = run(wide.data(), DType::kFloat32);
    expect_same_summaries(a, b);
    EXPECT_EQ(a.finite[4], 0);
    EXPECT_EQ(a.finite[9], 0);
    // and they are the round's: a distance between two finite rows against float64
    double want = 0;
    for (std::size_t j = 0; j < d; ++j) {
      const double diff = static_cast<double>(wide[j]) - wide[7 * d + j];
      want += diff * diff;
    }
    EXPECT_NEAR(dist_from(a, 0, 7), want, 1e-5 * want);
  }
}

}  // namespace
}  // namespace fedguard::test
