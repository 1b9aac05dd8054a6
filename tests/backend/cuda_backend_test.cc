// The CUDA backend against the CPU backend on the same random inputs: every pass-1 summary and
// every pass-2 rule, for n in {3, 4, 31, 32, 1000, 4097}, float32 / float16 / bfloat16, and the
// three placements (device-resident views, host copied once, host streamed under a memory cap);
// NaN rows; determinism (two runs bit-identical); reduced-precision Grams; the engine end to
// end. Every test skips (GTEST_SKIP) where no CUDA device is usable, and fails instead when
// FEDGUARD_REQUIRE_GPU=1 (support/gpu.h); ctest label `gpu`. Parameterised cases are named
// n<rows>_<dtype>_<placement> (e.g. Shapes/CudaVsCpu.EveryPrimitiveAndRule/n3_float32_device),
// so that sanitizer filters such as `*n3_*` select what they say.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>

#ifdef FEDGUARD_HAS_CUDA
#include <cuda_runtime.h>  // PlacementStaysCopied... takes device memory itself
#endif

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/plan.h"
#include "fedguard/dtype.h"
#include "fedguard/engine.h"
#include "fedguard/error.h"
#include "support/gpu.h"
#include "support/random_round.h"

namespace fedguard::test {
namespace {

enum class Place { kDevice, kCopied, kStreamed };
const char* place_name(Place p) {
  return p == Place::kDevice ? "device" : p == Place::kCopied ? "copied" : "streamed";
}

// Input of one dtype, on the host, and on the device where asked.
struct Input {
  std::size_t n = 0, d = 0;
  DType dtype = DType::kFloat32;
  std::vector<float> f32;
  std::vector<std::uint16_t> u16;
  std::shared_ptr<void> device;
  UpdateView host_view, device_view;

  const void* host_data() const {
    return dtype == DType::kFloat32 ? static_cast<const void*>(f32.data()) : u16.data();
  }
  std::size_t bytes() const { return n * d * dtype_size(dtype); }
  const UpdateView& view(Place p) const { return p == Place::kDevice ? device_view : host_view; }
};

Input make_input(const std::vector<float>& values, std::size_t n, std::size_t d, DType dtype,
                 bool on_device) {
  Input in;
  in.n = n;
  in.d = d;
  in.dtype = dtype;
  if (dtype == DType::kFloat32) {
    in.f32 = values;
  } else {
    in.u16.resize(values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
      in.u16[i] =
          dtype == DType::kFloat16 ? float_to_half(values[i]) : float_to_bfloat16(values[i]);
  }
  in.host_view = UpdateView(in.host_data(), n, d, dtype);
  if (on_device) {
    in.device = backend::cuda_copy_to_device(in.host_data(), in.bytes(), 0);
    in.device_view = UpdateView(in.device.get(), n, d, dtype, Location{MemoryKind::kCuda, 0});
  }
  return in;
}

// Placement (c) is forced the way a user would: FEDGUARD_CUDA_MEMORY_LIMIT's in-code twin,
// a cap on the device memory the backend may hold, here just above what two streams need for
// tiles of `tile` columns (so the input, larger than that, cannot be copied and is streamed).
std::size_t streaming_cap(std::size_t k, std::size_t d, DType dtype, std::size_t tile,
                          std::size_t r, std::size_t q, std::size_t subset_columns) {
  backend::cuda_plan::ScanShape s;
  s.k = k;
  s.d = d;
  s.elem_size = dtype_size(dtype);
  s.r = r;
  s.sketch_dim = q;
  s.subsets = 1;
  s.subset_columns = subset_columns;
  return 2 * backend::cuda_plan::scan_stream_bytes(s, std::min(tile, d), true) +
         (std::size_t{16} << 10);
}

std::unique_ptr<backend::Backend> cuda_backend(
    std::size_t memory_limit, backend::GramPrecision precision = backend::GramPrecision::kFp32) {
  backend::CudaOptions o;
  o.precision = precision;
  o.memory_limit = memory_limit;
  return backend::make_cuda_backend(o);
}

// Tolerances are per entry: an entry's error is compared with the magnitude that bounds its
// rounding, not with the largest entry of the vector (with one scale for all, an off-diagonal
// Gram error of 2e-5 of the largest diagonal would pass).

// Gram-like k x k matrices: entry (i, j) against sqrt(|G_ii G_jj|), the bound of |G_ij|.
void expect_gram_close(const std::vector<double>& gpu, const std::vector<double>& cpu,
                       std::size_t k, double rel, const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  ASSERT_EQ(cpu.size(), k * k) << what;
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = 0; j < k; ++j) {
      const double s = std::sqrt(std::fabs(cpu[i * k + i] * cpu[j * k + j])) + 1e-300;
      ASSERT_NEAR(gpu[i * k + j], cpu[i * k + j], rel * s) << what << " [" << i << "," << j << "]";
    }
}

// Vectors: entry i against bound[i] (the magnitude that bounds its rounding error).
void expect_close_each(const std::vector<double>& gpu, const std::vector<double>& cpu,
                       const std::vector<double>& bound, double rel, const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  ASSERT_EQ(bound.size(), cpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i)
    ASSERT_NEAR(gpu[i], cpu[i], rel * bound[i] + 1e-300) << what << " [" << i << "]";
}

void expect_close(const std::vector<double>& gpu, const std::vector<double>& cpu, double rel,
                  const char* what) {
  std::vector<double> bound(cpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) bound[i] = std::fabs(cpu[i]);
  expect_close_each(gpu, cpu, bound, rel, what);
}

// Aggregates: entry j against max(|cpu_j|, floor); floor is the input's magnitude, below which a
// value's rounding error does not shrink (a sum of terms of that size can cancel to ~0).
void expect_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double rel,
                  double floor, const char* what) {
  ASSERT_EQ(gpu.size(), cpu.size()) << what;
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    const double s = std::max(static_cast<double>(std::fabs(cpu[i])), floor);
    ASSERT_NEAR(gpu[i], cpu[i], rel * s) << what << " [" << i << "]";
  }
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

constexpr std::size_t kSubsetStep = 5;
constexpr std::size_t kSketch = 16;

std::unique_ptr<backend::Backend> cuda_backend_for(Place p, const Input& in, std::size_t tile,
                                                   std::size_t r) {
  if (p != Place::kStreamed) return cuda_backend(0);
  return cuda_backend(
      streaming_cap(in.n, in.d, in.dtype, tile, r, kSketch, in.d / kSubsetStep + 1));
}

backend::ScanRequest full_request(const UpdateView& view, std::size_t tile,
                                  const std::vector<const float*>& refs, std::size_t d) {
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < view.rows(); ++i) req.rows.push_back(i);
  req.references = refs;
  req.tile_columns = tile;
  req.sketch_dim = kSketch;
  req.sketch_seed = 7;
  std::vector<std::size_t> subset;
  for (std::size_t j = 3; j < d; j += kSubsetStep) subset.push_back(j);
  req.column_subsets = {subset};
  return req;
}

void expect_scan_matches(const backend::ScanSummaries& g, const backend::ScanSummaries& c,
                         double rel) {
  ASSERT_EQ(g.k, c.k);
  const std::size_t k = c.k, r = c.r, q = c.k ? c.sketch.size() / c.k : 0;
  EXPECT_EQ(g.finite, c.finite);
  EXPECT_EQ(g.positive, c.positive);
  EXPECT_EQ(g.negative, c.negative);
  EXPECT_EQ(g.zero, c.zero);
  expect_close(g.norms_sq, c.norms_sq, 1e-12, "norms_sq");
  expect_gram_close(g.gram, c.gram, k, rel, "gram");
  // c . (x_i - c) is bounded by |c| |x_i - c|; (x_i - c) . v_a by |x_i - c| |v_a|.
  std::vector<double> b_cproj(k), b_rproj(k * r), b_sketch(k * q), b_cref(r), b_rgram(r * r);
  for (std::size_t i = 0; i < k; ++i) {
    b_cproj[i] = std::sqrt(std::fabs(c.gram[i * k + i] * c.centre_sq));
    for (std::size_t a = 0; a < r; ++a)
      b_rproj[i * r + a] = std::sqrt(std::fabs(c.gram[i * k + i] * c.ref_gram[a * r + a]));
    for (std::size_t j = 0; j < q; ++j)
      b_sketch[i * q + j] = std::sqrt(c.norms_sq[i]);  // the row's scale (|S_ib| ~ |x_i| / sqrt(q))
  }
  for (std::size_t a = 0; a < r; ++a) {
    b_cref[a] = std::sqrt(std::fabs(c.centre_sq * c.ref_gram[a * r + a]));
    for (std::size_t b = 0; b < r; ++b)
      b_rgram[a * r + b] = std::sqrt(std::fabs(c.ref_gram[a * r + a] * c.ref_gram[b * r + b]));
  }
  expect_close_each(g.centre_proj, c.centre_proj, b_cproj, rel, "centre_proj");
  EXPECT_NEAR(g.centre_sq, c.centre_sq, 1e-9 * std::fabs(c.centre_sq));
  expect_close_each(g.ref_proj, c.ref_proj, b_rproj, rel, "ref_proj");
  expect_close_each(g.centre_ref, c.centre_ref, b_cref, 1e-9, "centre_ref");
  expect_close_each(g.ref_gram, c.ref_gram, b_rgram, 1e-12, "ref_gram");
  expect_close_each(g.sketch, c.sketch, b_sketch, 1e-5, "sketch");
  ASSERT_EQ(g.subset_grams.size(), c.subset_grams.size());
  for (std::size_t i = 0; i < c.subset_grams.size(); ++i)
    expect_gram_close(g.subset_grams[i], c.subset_grams[i], k, rel, "subset");
}

struct Case {
  std::size_t n;
  DType dtype;
  Place place;
};
std::string case_name(const Case& c) {
  return "n" + std::to_string(c.n) + "_" + dtype_name(c.dtype) + "_" + place_name(c.place);
}
void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

class CudaVsCpu : public ::testing::TestWithParam<Case> {};

TEST_P(CudaVsCpu, EveryPrimitiveAndRule) {
  FEDGUARD_REQUIRE_GPU();
  const Case c = GetParam();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = c.n, tile = n >= 1000 ? 256 : 1024;
  const std::size_t d = n >= 1000 ? 700 : c.place == Place::kStreamed ? 20000 : 5000;
  const Matrix x = random_round(RoundShape{n, d, n % 2 == 0, false, false, 0.0}, rng);
  const Input in = make_input(to_floats(x), n, d, c.dtype, c.place == Place::kDevice);
  std::vector<float> ref(d);
  for (std::size_t j = 0; j < d; ++j)
    ref[j] = static_cast<float>(std::sin(0.01 * static_cast<double>(j)));
  const std::vector<const float*> refs{ref.data()};

  auto cpu = backend::make_cpu_backend(2);
  auto gpu = cuda_backend_for(c.place, in, tile, refs.size());
  const UpdateView& view = in.view(c.place);

  // Pass 1 (the same tile width on both: the robust centre is per tile).
  const backend::ScanSummaries cs = cpu->scan(full_request(in.host_view, tile, refs, d));
  const backend::ScanSummaries gs = gpu->scan(full_request(view, tile, refs, d));
  expect_scan_matches(gs, cs, 2e-5);
  EXPECT_NE(backend::cuda_last_plan(*gpu).find(place_name(c.place)), std::string::npos)
      << backend::cuda_last_plan(*gpu);

  // Pass 2: linear.
  backend::LinearAggregateRequest lin;
  lin.updates = &view;
  for (std::size_t i = 0; i < n; ++i) {
    lin.rows.push_back(i);
    lin.coefficients.push_back(i % 5 == 2 ? 0.0 : 1.0 / (1.0 + static_cast<double>(i)));
  }
  lin.references = refs;
  lin.reference_coefficients = {0.25};
  std::vector<float> a(d), b(d);
  gpu->aggregate_linear(lin, a.data());
  lin.updates = &in.host_view;
  cpu->aggregate_linear(lin, b.data());
  EXPECT_EQ(a, b) << "linear: the same float64 sums in the same order";

  // Pass 2: coordinate-wise, plain and mixed, on a subset of the rows.
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i)
    if (n <= 4 || i % 3 != 1) rows.push_back(i);
  const std::size_t m = rows.size();
  struct Stat {
    backend::ColumnStatistic s;
    std::size_t param;
    double tol;
  };
  for (const Stat& st :
       {Stat{backend::ColumnStatistic::kMedian, 0, 0.0},
        Stat{backend::ColumnStatistic::kTrimmedMean, 0, 1e-6},
        Stat{backend::ColumnStatistic::kTrimmedMean, (m - 1) / 2, 1e-6},
        Stat{backend::ColumnStatistic::kTrimmedMean, m / 4, 1e-6},
        Stat{backend::ColumnStatistic::kBulyanMean, 1, 0.0},
        Stat{backend::ColumnStatistic::kBulyanMean, std::max<std::size_t>(1, m / 2), 0.0},
        Stat{backend::ColumnStatistic::kBulyanMean, m, 0.0}}) {
    backend::CoordinateAggregateRequest req;
    req.updates = &view;
    req.rows = rows;
    req.statistic = st.s;
    req.param = st.param;
    req.tile_columns = tile;
    gpu->aggregate_coordinatewise(req, a.data());
    req.updates = &in.host_view;
    cpu->aggregate_coordinatewise(req, b.data());
    if (st.tol == 0.0) {
      EXPECT_EQ(a, b) << "statistic " << static_cast<int>(st.s) << " param " << st.param;
    } else {
      expect_close(a, b, st.tol, 1e-30, "trimmed mean");  // float64 sums in another order: ~1 ulp
    }
  }
  // Mixed: three rows mixing the sources and the reference.
  backend::CoordinateAggregateRequest mix;
  mix.updates = &view;
  mix.rows = rows;
  mix.references = refs;
  mix.mixed_rows = 3;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t j = 0; j < m + 1; ++j)
      mix.mix.push_back(((i + j) % 4 == 0) ? 0.5 : 1.0 / static_cast<double>(m + 1));
  mix.statistic = backend::ColumnStatistic::kMedian;
  gpu->aggregate_coordinatewise(mix, a.data());
  mix.updates = &in.host_view;
  cpu->aggregate_coordinatewise(mix, b.data());
  expect_close(a, b, 1e-5, max_abs(b), "mixed median");
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (std::size_t n : {3, 4, 31, 32, 1000, 4097})
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16})
      for (Place p : {Place::kDevice, Place::kCopied, Place::kStreamed}) {
        if (n == 4097 && t != DType::kFloat32)
          continue;  // keep the run short; dtypes are covered below it
        out.push_back(Case{n, t, p});
      }
  return out;
}
INSTANTIATE_TEST_SUITE_P(Shapes, CudaVsCpu, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return case_name(p.param);
                         });

TEST(CudaBackend, NaNRowsAreFlaggedAndLeaveTheOthersAsOnTheCpu) {
  FEDGUARD_REQUIRE_GPU();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 17, d = 3000;
  std::vector<float> v = to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng));
  v[2 * d + 10] = std::numeric_limits<float>::quiet_NaN();   // first tile
  v[5 * d + 2500] = std::numeric_limits<float>::infinity();  // a later tile
  v[9 * d + 0] = -std::numeric_limits<float>::infinity();
  for (Place p : {Place::kDevice, Place::kCopied, Place::kStreamed}) {
    const Input in = make_input(v, n, d, DType::kFloat32, p == Place::kDevice);
    auto gpu = cuda_backend_for(p, in, 512, 0);
    // One stream on both sides' terms: the CPU with one thread sees the tiles in order.
    const backend::ScanSummaries gs = gpu->scan(full_request(in.view(p), 512, {}, d));
    const backend::ScanSummaries cs =
        backend::make_cpu_backend(1)->scan(full_request(in.host_view, 512, {}, d));
    EXPECT_EQ(gs.finite[2], 0);
    EXPECT_EQ(gs.finite[5], 0);
    EXPECT_EQ(gs.finite[9], 0);
    for (std::size_t i = 0; i < n; ++i) {
      if (!cs.finite[i]) continue;
      for (std::size_t j = 0; j < n; ++j) {
        if (!cs.finite[j]) continue;
        const double dg = gs.gram[i * n + i] + gs.gram[j * n + j] - 2 * gs.gram[i * n + j];
        const double dc = cs.gram[i * n + i] + cs.gram[j * n + j] - 2 * cs.gram[i * n + j];
        EXPECT_NEAR(dg, dc, 1e-4 * std::max(1.0, dc)) << place_name(p) << " " << i << "," << j;
      }
      EXPECT_NEAR(gs.norms_sq[i], cs.norms_sq[i], 1e-9 * cs.norms_sq[i]);
    }
  }
}

TEST(CudaBackend, DeterministicBitIdentical) {
  FEDGUARD_REQUIRE_GPU();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 333, d = 20000;
  const Input in =
      make_input(to_floats(random_round(RoundShape{n, d, true, true, false, 3.0}, rng)), n, d,
                 DType::kFloat32, false);
  for (Place p : {Place::kCopied, Place::kStreamed}) {
    auto gpu = cuda_backend_for(p, in, 2048, 0);
    const auto req = full_request(in.host_view, 2048, {}, d);
    const backend::ScanSummaries s1 = gpu->scan(req);
    const backend::ScanSummaries s2 = gpu->scan(req);
    EXPECT_EQ(s1.gram, s2.gram);
    EXPECT_EQ(s1.centre_proj, s2.centre_proj);
    EXPECT_EQ(s1.norms_sq, s2.norms_sq);
    EXPECT_EQ(s1.sketch, s2.sketch);
    EXPECT_EQ(s1.subset_grams, s2.subset_grams);
    for (auto stat : {backend::ColumnStatistic::kMedian, backend::ColumnStatistic::kTrimmedMean,
                      backend::ColumnStatistic::kBulyanMean}) {
      backend::CoordinateAggregateRequest req2;
      req2.updates = &in.host_view;
      for (std::size_t i = 0; i < n; ++i) req2.rows.push_back(i);
      req2.statistic = stat;
      req2.param = 50;
      std::vector<float> a(d), b(d);
      gpu->aggregate_coordinatewise(req2, a.data());
      gpu->aggregate_coordinatewise(req2, b.data());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), d * sizeof(float)));
    }
  }
}

TEST(CudaBackend, ReducedPrecisionGramsStayClose) {
  FEDGUARD_REQUIRE_GPU();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 64, d = 50000;
  const Input in =
      make_input(to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng)), n, d,
                 DType::kFloat32, false);
  const auto req = full_request(in.host_view, 4096, {}, d);
  const backend::ScanSummaries cs = backend::make_cpu_backend(2)->scan(req);
  for (auto [precision, rel] : {std::pair{backend::GramPrecision::kTf32, 2e-3},
                                std::pair{backend::GramPrecision::kBf16, 2e-2}}) {
    auto gpu = cuda_backend(0, precision);
    const backend::ScanSummaries gs = gpu->scan(req);
    expect_gram_close(gs.gram, cs.gram, n, rel, "reduced-precision gram");
    expect_close(gs.norms_sq, cs.norms_sq, 1e-12, "norms are float64 whatever the precision");
  }
}

TEST(CudaBackend, EngineRoundsMatchTheCpu) {
  FEDGUARD_REQUIRE_GPU();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 40, d = 30000;
  const std::vector<float> v =
      to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng));
  for (const char* aggregator :
       {"mean", "median", "trimmed_mean", "krum", "multi_krum", "bulyan"}) {
    EngineConfig cfg;
    cfg.aggregator = RuleSpec{aggregator};
    const std::string a = aggregator;
    if (a == "trimmed_mean") cfg.aggregator.params = {{"trim", 4}};
    if (a == "krum" || a == "multi_krum" || a == "bulyan") cfg.aggregator.params = {{"f", 4}};
    cfg.tile_columns = 2048;
    cfg.backend = BackendKind::kCpu;
    Engine cpu(cfg);
    cfg.backend = BackendKind::kCuda;
    Engine gpu(cfg);
    EXPECT_EQ(gpu.backend_name(), "cuda");
    RoundInput in;
    in.updates = UpdateView(v.data(), n, d, DType::kFloat32);
    const RoundResult rc = cpu.process_round(in);
    const RoundResult rg = gpu.process_round(in);
    EXPECT_EQ(rg.accepted, rc.accepted) << aggregator;
    expect_close(rg.aggregate, rc.aggregate, 1e-5, max_abs(rc.aggregate), aggregator);
  }
  EngineConfig cfg;
  cfg.backend = BackendKind::kAuto;
  EXPECT_EQ(Engine(cfg).backend_name(), "cuda");
  cfg.backend = BackendKind::kCuda;
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    cfg.precision = p;
    EXPECT_NO_THROW(Engine{cfg});
  }
}

// ---- the CUDA review's defects (issue #16), each a test that fails without its fix ----------

// A subnormal-only row's power-of-two scale (~2^140) is inf as a float32; scaled in float32 the
// row, its Gram entries and its sketch became inf / NaN. Both backends now scale in float64.
TEST(CudaBackend, SubnormalOnlyRowsScaleWithoutOverflow) {
  FEDGUARD_REQUIRE_GPU();
  const std::size_t n = 5, d = 3000;
  std::vector<float> v(n * d);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < d; ++j)
      v[i * d + j] =
          static_cast<float>(1e-40 * (1.0 + 0.37 * static_cast<double>((i * 7 + j * 3) % 11)) *
                             ((i + j) % 3 == 0 ? -1.0 : 1.0));
  for (Place p : {Place::kDevice, Place::kCopied, Place::kStreamed}) {
    const Input in = make_input(v, n, d, DType::kFloat32, p == Place::kDevice);
    auto gpu = cuda_backend_for(p, in, 1024, 0);
    const backend::ScanSummaries gs = gpu->scan(full_request(in.view(p), 1024, {}, d));
    const backend::ScanSummaries cs =
        backend::make_cpu_backend(1)->scan(full_request(in.host_view, 1024, {}, d));
    for (double g : gs.gram) ASSERT_TRUE(std::isfinite(g)) << place_name(p);
    for (double g : gs.sketch) ASSERT_TRUE(std::isfinite(g)) << place_name(p);
    expect_scan_matches(gs, cs, 2e-5);
  }
}

// The engine's aggregate sketch (FLDetector) is one row at large d: with the dense sketch that
// was w x q entries of R per tile (issue #16's element cap). The count sketch has no R, so the
// tile is as wide as k = 1 allows (here all 2e6 columns, 977 column chunks of the count_sketch
// kernel, q = 160 shared-memory buckets), and its sums match the CPU's.
TEST(CudaBackend, SketchOfOneWideRowMatchesTheCpu) {
  FEDGUARD_REQUIRE_GPU();
  const std::size_t n = 1, d = 2000000, q = 160;
  std::vector<float> v(d);
  for (std::size_t j = 0; j < d; ++j)
    v[j] = static_cast<float>(std::sin(0.001 * static_cast<double>(j)));
  const UpdateView view(v.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  req.rows = {0};
  req.gram = false;
  req.sketch_dim = q;
  req.sketch_seed = 5;
  auto gpu = cuda_backend(0);
  const backend::ScanSummaries gs = gpu->scan(req);
  EXPECT_EQ(gs.tile_columns, backend::auto_tile_columns(1, d, backend::kCudaTile))
      << backend::cuda_last_plan(*gpu);
  const backend::ScanSummaries cs = backend::make_cpu_backend(2)->scan(req);
  std::vector<double> bound(q, std::sqrt(cs.norms_sq[0]));
  expect_close_each(gs.sketch, cs.sketch, bound, 1e-5, "sketch");
}

// A linear sum holding NaN stays NaN on both backends (fmin/fmax turned it into -FLT_MAX on
// the GPU); infinities saturate to +-FLT_MAX on both.
TEST(CudaBackend, NaNSumsStayNaNAsOnTheCpu) {
  FEDGUARD_REQUIRE_GPU();
  const std::size_t n = 3, d = 700;
  std::vector<float> v(n * d, 1.0f);
  v[0 * d + 5] = std::numeric_limits<float>::quiet_NaN();
  v[1 * d + 6] = std::numeric_limits<float>::infinity();
  v[2 * d + 7] = -std::numeric_limits<float>::infinity();
  const Input in = make_input(v, n, d, DType::kFloat32, false);
  backend::LinearAggregateRequest lin;
  lin.updates = &in.host_view;
  lin.rows = {0, 1, 2};
  lin.coefficients = {1.0, 1.0, 1.0};
  std::vector<float> a(d), b(d);
  cuda_backend(0)->aggregate_linear(lin, a.data());
  backend::make_cpu_backend(1)->aggregate_linear(lin, b.data());
  EXPECT_TRUE(std::isnan(b[5]));
  EXPECT_TRUE(std::isnan(a[5])) << "GPU gave " << a[5];
  EXPECT_EQ(a[6], b[6]);
  EXPECT_EQ(a[7], b[7]);
  for (std::size_t j = 0; j < d; ++j)
    if (j < 5 || j > 7) {
      EXPECT_EQ(a[j], b[j]);
    }
}

// A copy made by cuda_copy_to_device is read at once by the backend's non-blocking streams: a
// pageable cudaMemcpy on the legacy stream could still be in flight when it returned.
TEST(CudaBackend, FreshDeviceCopiesAreReadCompletely) {
  FEDGUARD_REQUIRE_GPU();
  std::mt19937_64 rng(test_seed());
  const std::size_t n = 64, d = 1 << 20;  // 256 MiB: a copy that takes a while
  const std::vector<float> v =
      to_floats(random_round(RoundShape{n, d, false, false, false, 0.0}, rng));
  auto gpu = cuda_backend(0);
  auto cpu = backend::make_cpu_backend(2);
  for (int round = 0; round < 3; ++round) {
    const Input in = make_input(v, n, d, DType::kFloat32, true);
    backend::ScanRequest req;
    req.updates = &in.device_view;
    for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
    req.gram = false;  // norms only: the first kernel reads the copy straight away
    const backend::ScanSummaries gs = gpu->scan(req);
    req.updates = &in.host_view;
    const backend::ScanSummaries cs = cpu->scan(req);
    expect_close(gs.norms_sq, cs.norms_sq, 1e-12, "norms of a fresh copy");
    EXPECT_EQ(gs.positive, cs.positive);
  }
}

// The budget counted cudaMemGetInfo only, while the pool still cached the previous round's
// device copy: an input that fits took placement (b) every other round and was streamed in
// between. Here most of the device is taken first, so that the copy fits only once.
TEST(CudaBackend, PlacementStaysCopiedAcrossRoundsUnderMemoryPressure) {
  FEDGUARD_REQUIRE_GPU();
#ifndef FEDGUARD_HAS_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  std::size_t free_bytes = 0, total = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total), cudaSuccess);
  const std::size_t keep = std::size_t{3} << 30;  // 3 GiB left to the backend
  if (free_bytes < keep + (std::size_t{1} << 30)) GTEST_SKIP() << "device too small for this test";
  void* hog = nullptr;
  ASSERT_EQ(cudaMalloc(&hog, free_bytes - keep), cudaSuccess);
  std::shared_ptr<void> release(hog, [](void* p) { cudaFree(p); });
  const std::size_t n = 100, d = 4000000;  // 1.6 GB: fits 3 GiB once, not twice
  std::vector<float> v(n * d);
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>((i * 2654435761u) % 1000) * 1e-6f;
  const UpdateView view(v.data(), n, d, DType::kFloat32);
  backend::ScanRequest req;
  req.updates = &view;
  for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
  auto gpu = cuda_backend(0);
  for (int round = 0; round < 3; ++round) {
    gpu->scan(req);
    EXPECT_NE(backend::cuda_last_plan(*gpu).find("copied"), std::string::npos)
        << "round " << round << ": " << backend::cuda_last_plan(*gpu);
  }
#endif
}

// Column statistics at the kernel's shared-memory bound run (the kernel attribute is raised per
// device and not cached after a failure); one row more is the caller's: the backend says
// kUnsupported, the engine runs that statistic on the CPU backend for host rows.
TEST(CudaBackend, ColumnStatisticBoundAndTheEnginesCpuFallback) {
  FEDGUARD_REQUIRE_GPU();
  auto gpu = cuda_backend(0);
  const std::size_t bound = gpu->max_statistic_rows(backend::ColumnStatistic::kMedian);
  ASSERT_GT(bound, 1000u);
  ASSERT_LT(bound, 1000000u);
  const std::size_t d = 300;
  std::mt19937_64 rng(test_seed());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::size_t n : {std::size_t{7}, bound, bound + 1}) {
    std::vector<float> v(n * d);
    for (float& x : v) x = u(rng);
    const UpdateView view(v.data(), n, d, DType::kFloat32);
    backend::CoordinateAggregateRequest req;
    req.updates = &view;
    for (std::size_t i = 0; i < n; ++i) req.rows.push_back(i);
    std::vector<float> a(d), b(d);
    backend::make_cpu_backend(2)->aggregate_coordinatewise(req, b.data());
    if (n <= bound) {
      gpu->aggregate_coordinatewise(req, a.data());
      EXPECT_EQ(a, b) << n << " rows";
    } else {
      try {
        gpu->aggregate_coordinatewise(req, a.data());
        ADD_FAILURE() << "no error beyond the bound";
      } catch (const Error& e) {
        EXPECT_EQ(e.category(), ErrorCategory::kUnsupported) << e.what();
      }
      EngineConfig cfg;
      cfg.aggregator = RuleSpec{"median"};
      cfg.backend = BackendKind::kCuda;
      Engine engine(cfg);
      RoundInput in;
      in.updates = view;
      const RoundResult r = engine.process_round(in);
      EXPECT_EQ(r.aggregate, b) << "the engine's CPU fallback";
    }
  }
}

}  // namespace
}  // namespace fedguard::test
