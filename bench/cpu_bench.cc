// Google Benchmark binary for the CPU backend: pass 1 (scan), pass 2 (median, trimmed mean,
// mean), whole engine rounds, and the floors they are judged against on the same machine and
// the same data (OpenBLAS SGEMM / SSYRK on the scan's own tiles, memcpy, a plain read).
//
// Counters (all rates use wall-clock time: every benchmark is ->UseRealTime()):
//   GB/s     bytes of update data read per second: n * d * sizeof(element) / time, 1 GB = 1e9 B.
//            For the memcpy floor this counts the bytes *copied* (read once, written once), so
//            its GB/s is directly the rate at which a pass could stream the same matrix while
//            also writing it somewhere; the read floor counts bytes read.
//   GFLOP/s  "useful Gram flops" per second, one convention for every benchmark: n * n * d,
//            i.e. one multiply and one add for each of the ~n^2/2 distinct entries of the
//            symmetric product X X^T, summed over d. This is what SSYRK actually executes; SGEMM
//            computes both triangles (2 n^2 d hardware flops) but is credited the same n^2 d,
//            so equal GFLOP/s means equal time on the same shape.
//   other_load_%  CPU used by *other* processes while the timed loop ran, as a percentage of the
//            machine (busy time from /proc/stat minus this process's own CPU time): a timing taken
//            with other_load_% well above 0 was disturbed (this is often a shared 2-core machine).
//            With FEDGUARD_BENCH_QUIET_WAIT=<seconds>, each benchmark first waits (up to that long)
//            for the other processes to use less than 5% of the machine.
//
// Sizes: n in {100, 1000} x d in {1e5, 1e6}, float32, plus a float16 scan. n = 1000, d = 1e6
// (4 GB of float32) runs only with FEDGUARD_BENCH_LARGE=1 in the environment; the data of every
// size are generated once (a round of the shared generator, host/synthetic/round.h: a common
// direction plus per-client noise, both N(0, 1), seed 1) and kept for the whole run,
// so peak memory is the sum of the sizes used (about 1.0 GB, 5.0 GB with the large size) plus
// the memcpy floor's destination (at most 512 MiB).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/blas_library.h"
#include "backend/cpu/centre_transpose.h"
#include "fedguard/config.h"
#include "fedguard/dtype.h"
#include "fedguard/engine.h"
#include "fedguard/round.h"
#include "fedguard/update_view.h"
#include "geometry/spectral.h"
#include "synthetic/round.h"

namespace {

using fedguard::DType;
namespace fb = fedguard::backend;

constexpr std::int64_t kF32 = 0;
constexpr std::int64_t kF16 = 1;

// ---------------------------------------------------------------------------------------------
// Data: one n x d row-major block per (n, d, dtype), generated once, kept for the whole run.

struct Matrix {
  std::size_t n = 0, d = 0;
  DType dtype = DType::kFloat32;
  std::unique_ptr<unsigned char[]> bytes;
  const float* f32() const { return reinterpret_cast<const float*>(bytes.get()); }
  std::size_t size_bytes() const { return n * d * fedguard::dtype_size(dtype); }
  fedguard::UpdateView view() const { return fedguard::UpdateView(bytes.get(), n, d, dtype); }
};

const Matrix& data(std::size_t n, std::size_t d, DType dtype) {
  static std::map<std::tuple<std::size_t, std::size_t, int>, Matrix> cache;
  const auto key = std::make_tuple(n, d, static_cast<int>(dtype));
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Matrix m;
  m.n = n;
  m.d = d;
  m.dtype = dtype;
  const std::size_t count = n * d;
  m.bytes.reset(new unsigned char[count * fedguard::dtype_size(dtype)]);  // uninitialised
  fedguard::synthetic::RoundSpec spec;
  spec.n = n;
  spec.d = d;
  spec.seed = 1;
  if (dtype == DType::kFloat32) {
    fedguard::synthetic::generate_rows(spec, 0, n, reinterpret_cast<float*>(m.bytes.get()));
  } else {
    // Converted in blocks of rows (about 64 MB of float32) so the float32 round never exists whole.
    auto* p = reinterpret_cast<std::uint16_t*>(m.bytes.get());
    const std::size_t block =
        std::max<std::size_t>(1, (std::size_t{1} << 24) / std::max<std::size_t>(d, 1));
    std::vector<float> rows(std::min(block, n) * d);
    for (std::size_t first = 0; first < n; first += block) {
      const std::size_t count_rows = std::min(block, n - first);
      fedguard::synthetic::generate_rows(spec, first, count_rows, rows.data());
      const auto total = static_cast<std::ptrdiff_t>(count_rows * d);
      std::uint16_t* out = p + first * d;
#pragma omp parallel for schedule(static)
      for (std::ptrdiff_t i = 0; i < total; ++i)
        out[i] = dtype == DType::kFloat16 ? fedguard::float_to_half(rows[i])
                                          : fedguard::float_to_bfloat16(rows[i]);
    }
  }
  return cache.emplace(key, std::move(m)).first->second;
}

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

DType dtype_arg(std::int64_t code) { return code == kF16 ? DType::kFloat16 : DType::kFloat32; }

// Counters. Values are per iteration; kIsIterationInvariantRate multiplies by the iteration
// count and divides by the (real) time, giving per-second rates.
void set_rates(benchmark::State& state, double bytes, double gram_flops) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (gram_flops > 0)
    state.counters["GFLOP/s"] =
        benchmark::Counter(gram_flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["n"] = static_cast<double>(state.range(0));
  state.counters["d"] = static_cast<double>(state.range(1));
}

double gram_flops(std::size_t n, std::size_t d) {
  return static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(d);
}

// ---------------------------------------------------------------------------------------------
// Load probe: how much of the machine other processes used during the timed loop.

struct CpuSample {
  double busy_s = 0;  // whole machine, from /proc/stat (user nice system irq softirq steal)
  double own_s = 0;   // this process, every thread
  std::chrono::steady_clock::time_point wall;
};

CpuSample cpu_sample() {
  CpuSample c;
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                     steal = 0;
  if (f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)
    c.busy_s = static_cast<double>(user + nice + system + irq + softirq + steal) /
               static_cast<double>(sysconf(_SC_CLK_TCK));
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  c.own_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
            1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  c.wall = std::chrono::steady_clock::now();
  return c;
}

// Share (0..1) of the machine that other processes used between a and b.
double other_share(const CpuSample& a, const CpuSample& b) {
  const double wall = std::chrono::duration<double>(b.wall - a.wall).count();
  const double cpus = static_cast<double>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  if (wall <= 0) return 0;
  const double other = (b.busy_s - a.busy_s) - (b.own_s - a.own_s);
  return std::clamp(other / (wall * cpus), 0.0, 1.0);
}

double quiet_wait_seconds() {
  const char* v = std::getenv("FEDGUARD_BENCH_QUIET_WAIT");
  return v ? std::atof(v) : 0.0;
}

// Construct just before the timed loop (waits for a quiet machine if asked), report() after it.
class LoadProbe {
 public:
  LoadProbe() {
    const double limit = quiet_wait_seconds();
    if (limit > 0) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
      while (true) {
        const CpuSample a = cpu_sample();
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        if (other_share(a, cpu_sample()) < 0.05 || std::chrono::steady_clock::now() > end) break;
      }
    }
    start_ = cpu_sample();
  }
  void report(benchmark::State& state) const {
    state.counters["other_load_%"] = 100.0 * other_share(start_, cpu_sample());
  }

 private:
  CpuSample start_;
};

// ---------------------------------------------------------------------------------------------
// Pass 1.

void BM_Pass1Scan(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const DType dtype = dtype_arg(state.range(2));
  const Matrix& x = data(n, d, dtype);
  const fedguard::UpdateView view = x.view();
  auto backend = fb::make_cpu_backend(0);
  fb::ScanRequest request;  // the full pass 1: Gram included, automatic tile width, no references
  request.updates = &view;
  request.rows = all_rows(n);
  request.tile_columns = 0;
  request.gram = true;
  std::size_t tile = 0;
  const LoadProbe probe;
  for (auto _ : state) {
    fb::ScanSummaries s = backend->scan(request);
    benchmark::DoNotOptimize(s.gram.data());
    tile = s.tile_columns;
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), gram_flops(n, d));
  state.counters["tile"] = static_cast<double>(tile);
  state.SetLabel(fedguard::dtype_name(dtype));
}

// Pass 1's step 3 alone (backend/cpu/centre_transpose.h), one thread, in cache: a tile of k rows
// x w columns centred and written transposed, eight rows a call, by the kernel of one
// instruction set (0 AVX-512, 1 AVX2, 2 generic). The three give the same bits
// (tests/backend/centre_transpose_test.cc); this says what each costs.
void BM_CentreTranspose(benchmark::State& state) {
  const auto isa = static_cast<fb::cpu::LaneIsa>(state.range(0));
  const auto k = static_cast<std::size_t>(state.range(1));
  const auto w = static_cast<std::size_t>(state.range(2));
#if defined(__x86_64__) && defined(__GNUC__)
  if ((isa == fb::cpu::LaneIsa::kAvx512 && !__builtin_cpu_supports("avx512f")) ||
      (isa == fb::cpu::LaneIsa::kAvx2 && !__builtin_cpu_supports("avx2"))) {
    state.SkipWithError("instruction set not available");
    return;
  }
#endif
  constexpr std::size_t kG = fb::cpu::kCentreGroup;
  const std::size_t ldt = (k + kG - 1) / kG * kG;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> tile(ldt * w), centre(w), t(w * ldt);
  std::vector<double> centre64(w);
  for (float& v : tile) v = g(rng);
  for (std::size_t j = 0; j < w; ++j) centre64[j] = centre[j] = 0.1f * g(rng);
  double proj[kG];
  float mx[kG];
  std::uint8_t keep[kG];
  for (auto _ : state) {
    for (std::size_t p0 = 0; p0 < ldt; p0 += kG) {
      const float* rows[kG];
      for (std::size_t i = 0; i < kG; ++i) {
        rows[i] = tile.data() + (p0 + i) * w;
        keep[i] = p0 + i < k;
      }
      fb::cpu::centre_transpose(isa, rows, keep, centre.data(), centre64.data(), w, t.data() + p0,
                                ldt, proj, mx);
      benchmark::DoNotOptimize(proj);
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * k * w * sizeof(float)));
  state.SetLabel(isa == fb::cpu::LaneIsa::kAvx512 ? "avx512"
                 : isa == fb::cpu::LaneIsa::kAvx2 ? "avx2"
                                                  : "generic");
}

// The BLAS floor of pass 1's Gram: X X^T of the whole n x d float32 matrix, accumulated over
// column tiles of exactly the width the scan uses (auto_tile_columns), read in place (lda = d).
// Threads: as many as the CPU backend uses (every core).
template <bool kSyrk>
void BM_BlasFloor(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const std::size_t w_max = fb::auto_tile_columns(n, d);
  std::vector<float> c(n * n);
  fedguard::backend::cpu::set_blas_threads(omp_get_num_procs());
  const int ni = static_cast<int>(n), di = static_cast<int>(d);
  const LoadProbe probe;
  for (auto _ : state) {
    for (std::size_t col0 = 0; col0 < d; col0 += w_max) {
      const int w = static_cast<int>(std::min(w_max, d - col0));
      const float* a = x.f32() + col0;
      const float beta = col0 == 0 ? 0.0f : 1.0f;
      if (kSyrk) {
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, ni, w, 1.0f, a, di, beta, c.data(),
                    ni);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, ni, w, 1.0f, a, di, a, di, beta,
                    c.data(), ni);
      }
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), gram_flops(n, d));
  state.counters["tile"] = static_cast<double>(w_max);
}
void BM_Sgemm_Floor(benchmark::State& state) { BM_BlasFloor<false>(state); }
void BM_Ssyrk_Floor(benchmark::State& state) { BM_BlasFloor<true>(state); }

// Bandwidth floors. memcpy: the n*d*4 bytes copied, by every core, into a destination of at most
// 512 MiB (reused cyclically: still far beyond the last-level cache, so DRAM-bound). GB/s counts
// bytes copied. Read: a sum over the same bytes (what a pass that only reads could reach).
void BM_Memcpy_Floor(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const std::size_t bytes = x.size_bytes();
  const std::size_t dst_bytes = std::min<std::size_t>(bytes, std::size_t{512} << 20);
  std::unique_ptr<unsigned char[]> dst(new unsigned char[dst_bytes]);
  std::memset(dst.get(), 0, dst_bytes);
  constexpr std::size_t kChunk = std::size_t{4} << 20;
  const auto chunks = static_cast<std::ptrdiff_t>((bytes + kChunk - 1) / kChunk);
  const auto* src = x.bytes.get();
  const LoadProbe probe;
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (std::ptrdiff_t ci = 0; ci < chunks; ++ci) {
      const std::size_t off = static_cast<std::size_t>(ci) * kChunk;
      const std::size_t len = std::min(kChunk, bytes - off);
      std::memcpy(dst.get() + off % dst_bytes, src + off,
                  std::min(len, dst_bytes - off % dst_bytes));
    }
    benchmark::DoNotOptimize(dst.get());
    benchmark::ClobberMemory();
  }
  probe.report(state);
  set_rates(state, static_cast<double>(bytes), 0);
}

void BM_Read_Floor(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const auto count = static_cast<std::ptrdiff_t>(n * d);
  const float* p = x.f32();
  const LoadProbe probe;
  for (auto _ : state) {
    float sum = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
    for (std::ptrdiff_t i = 0; i < count; ++i) sum += p[i];
    benchmark::DoNotOptimize(sum);
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), 0);
}

// ---------------------------------------------------------------------------------------------
// Pass 2.

void coordinatewise(benchmark::State& state, fb::ColumnStatistic statistic, std::size_t param) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const fedguard::UpdateView view = x.view();
  auto backend = fb::make_cpu_backend(0);
  fb::CoordinateAggregateRequest request;
  request.updates = &view;
  request.rows = all_rows(n);
  request.statistic = statistic;
  request.param = param;
  std::vector<float> out(d);
  const LoadProbe probe;
  for (auto _ : state) {
    backend->aggregate_coordinatewise(request, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), 0);
}

void BM_Median(benchmark::State& state) { coordinatewise(state, fb::ColumnStatistic::kMedian, 0); }

// b = n / 10 values trimmed at each end.
void BM_TrimmedMean(benchmark::State& state) {
  coordinatewise(state, fb::ColumnStatistic::kTrimmedMean,
                 static_cast<std::size_t>(state.range(0)) / 10);
}

void BM_Mean(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const fedguard::UpdateView view = x.view();
  auto backend = fb::make_cpu_backend(0);
  fb::LinearAggregateRequest request;
  request.updates = &view;
  request.rows = all_rows(n);
  request.coefficients.assign(n, 1.0 / static_cast<double>(n));
  std::vector<float> out(d);
  const LoadProbe probe;
  for (auto _ : state) {
    backend->aggregate_linear(request, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), 0);
}

// ---------------------------------------------------------------------------------------------
// Whole rounds through the public API: pass 1, the policy, pass 2. GB/s counts n*d*4 once
// (both passes read the data, pass 2 only the rows it aggregates). The stage counters are the
// engine's own timings_ms, averaged over the iterations.

constexpr std::int64_t kMultiKrum = 0;
constexpr std::int64_t kMedianPolicy = 1;

void BM_Round(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto d = static_cast<std::size_t>(state.range(1));
  const Matrix& x = data(n, d, DType::kFloat32);
  const std::string config =
      state.range(2) == kMultiKrum
          ? R"({"backend":"cpu","aggregator":{"rule":"multi_krum","f":)" + std::to_string(n / 10) +
                "}}"
          : std::string(R"({"backend":"cpu","aggregator":{"rule":"median"}})");
  fedguard::Engine engine(fedguard::EngineConfig::from_json(config));
  fedguard::RoundInput input;
  input.updates = x.view();
  std::map<std::string, double> stage_ms;
  const LoadProbe probe;
  for (auto _ : state) {
    fedguard::RoundResult r = engine.process_round(input);
    benchmark::DoNotOptimize(r.aggregate.data());
    for (const auto& [stage, ms] : r.timings_ms) stage_ms[stage] += ms;
  }
  probe.report(state);
  set_rates(state, static_cast<double>(x.size_bytes()), 0);
  const auto iters = static_cast<double>(state.iterations());
  for (const auto& [stage, ms] : stage_ms) state.counters[stage + "_ms"] = ms / iters;
  state.SetLabel(state.range(2) == kMultiKrum ? "multi_krum f=n/10" : "median");
}

// ---------------------------------------------------------------------------------------------
// The spectral rules' eigen-solve on an n x n centred Gram (top-k eigenpairs): the direct
// solver against block Krylov. The matrix: a few strong directions plus noise, like a round with
// a coordinated attack.

const std::vector<double>& spiked_gram(std::size_t m) {
  static std::map<std::size_t, std::vector<double>> cache;
  auto& a = cache[m];
  if (!a.empty()) return a;
  std::mt19937_64 rng(m);
  std::normal_distribution<double> normal;
  const std::size_t r = 24;  // rank of the synthetic "updates" part
  std::vector<double> g(m * r);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t t = 0; t < r; ++t) g[i * r + t] = normal(rng) * (t < 2 ? 8.0 : 1.0);
  a.assign(m * m, 0.0);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(m),
              static_cast<int>(r), 1.0, g.data(), static_cast<int>(r), g.data(),
              static_cast<int>(r), 0.0, a.data(), static_cast<int>(m));
  for (std::size_t i = 0; i < m; ++i) a[i * m + i] += 1.0;  // full rank
  return a;
}

void BM_TopEigen(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  const auto count = static_cast<std::size_t>(state.range(1));
  const bool krylov = state.range(2) != 0;
  const auto& a = spiked_gram(m);
  for (auto _ : state) {
    auto e = krylov ? fedguard::geometry::top_eigenpairs_krylov(a, m, count)
                    : fedguard::geometry::top_eigenpairs_direct(a, m, count);
    if (e.values.empty()) state.SkipWithError("Krylov did not converge");
    benchmark::DoNotOptimize(e.values.data());
  }
  state.SetLabel(krylov ? "block Krylov" : "dsyevr");
}

// ---------------------------------------------------------------------------------------------
// Registration.

bool large_enabled() {
  const char* v = std::getenv("FEDGUARD_BENCH_LARGE");
  return v != nullptr && std::string(v) == "1";
}

std::vector<std::pair<std::int64_t, std::int64_t>> sizes() {
  std::vector<std::pair<std::int64_t, std::int64_t>> s = {
      {100, 100000}, {100, 1000000}, {1000, 100000}};
  if (large_enabled()) s.emplace_back(1000, 1000000);
  return s;
}

// Small cases repeat until 0.5 s; cases of ~1 s and more run one timed iteration.
benchmark::internal::Benchmark* common(benchmark::internal::Benchmark* b) {
  return b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
}

void register_all() {
  const auto sz = sizes();
  {
    // Pass 1 and the floors: 5 repetitions whatever --benchmark_repetitions says. Their
    // times are bimodal on small shared VMs (two thread pools, libgomp's and OpenBLAS's, on two
    // cores); the summary compares the fastest repetitions.
    auto* b = common(benchmark::RegisterBenchmark("BM_Pass1Scan", BM_Pass1Scan))->Repetitions(5);
    b->ArgNames({"n", "d", "f16"});
    for (const auto& [n, d] : sz) b->Args({n, d, kF32});
    b->Args({100, 1000000, kF16});
  }
  for (auto [name, fn] :
       {std::make_pair("BM_Sgemm_Floor", &BM_Sgemm_Floor),
        std::make_pair("BM_Ssyrk_Floor", &BM_Ssyrk_Floor),
        std::make_pair("BM_Memcpy_Floor", &BM_Memcpy_Floor),
        std::make_pair("BM_Read_Floor", &BM_Read_Floor), std::make_pair("BM_Median", &BM_Median),
        std::make_pair("BM_TrimmedMean", &BM_TrimmedMean), std::make_pair("BM_Mean", &BM_Mean)}) {
    auto* b = common(benchmark::RegisterBenchmark(name, fn));
    if (fn == &BM_Sgemm_Floor || fn == &BM_Ssyrk_Floor || fn == &BM_Memcpy_Floor ||
        fn == &BM_Read_Floor)
      b->Repetitions(5);  // floors: see above
    b->ArgNames({"n", "d"});
    for (const auto& [n, d] : sz) b->Args({n, d});
  }
  {
    // In cache, microseconds: repeated until 0.5 s, as the other small cases.
    auto* b = benchmark::RegisterBenchmark("BM_CentreTranspose", BM_CentreTranspose)
                  ->Unit(benchmark::kMicrosecond)
                  ->MinTime(0.5);
    b->ArgNames({"isa", "k", "w"});
    for (std::int64_t isa : {0, 1, 2}) b->Args({isa, 100, 1024});
  }
  {
    auto* b = common(benchmark::RegisterBenchmark("BM_TopEigen", BM_TopEigen));
    b->ArgNames({"n", "k", "krylov"});
    for (std::int64_t n : {1000, 4000}) b->Args({n, 2, 0});
    for (std::int64_t n : {1000, 4000, 10000}) b->Args({n, 2, 1});
  }
  {
    auto* b = common(benchmark::RegisterBenchmark("BM_Round", BM_Round));
    b->ArgNames({"n", "d", "policy"});
    for (const auto& [n, d] : sz) {
      b->Args({n, d, kMultiKrum});
      b->Args({n, d, kMedianPolicy});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fedguard_version", fedguard::version());
  benchmark::AddCustomContext("blas", fedguard::backend::cpu::blas_description());
  benchmark::AddCustomContext("omp_num_procs", std::to_string(omp_get_num_procs()));
  benchmark::AddCustomContext("large_size",
                              large_enabled() ? "1000 x 1e6 included" : "1000 x 1e6 skipped");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
