// GPU benchmark of the CUDA backend: per stage times (median of repeats after warm-up) for
// pass 1 (scan with Gram), pass 2 (median, trimmed mean, Bulyan's mean, weighted mean) and
// whole rounds, next to the ceilings measured in the same run on the same device:
// device-to-device copy bandwidth (CUDA events) and cuBLAS SGEMM of the same shape.
// bench/gpu_vs_torch.py runs this binary and idiomatic PyTorch on the same shapes and writes
// the combined table and JSON.
//
// Usage: fedguard_gpu_bench [--n 100,1000,10000] [--d 1e5,1e6,1e7] [--reps 5] [--warmup 1]
//                           [--json out.json] [--streamed-gb 16] [--streamed-cap-gb 8]
// Backend stages are synchronous calls (each ends with a stream synchronisation), timed by the
// host clock around them after cudaDeviceSynchronize; the ceilings are timed with CUDA events.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "fedguard/engine.h"
#include "fedguard/error.h"

namespace {

using fedguard::backend::ColumnStatistic;

#define BENCH_CUDA(call)                                                                       \
  do {                                                                                         \
    const cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, \
                   __LINE__);                                                                  \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

// Deterministic pseudo-random values: a common direction plus per-row noise, some outlying rows.
__global__ void fill_kernel(float* x, std::size_t n, std::size_t d, std::uint64_t seed) {
  const std::size_t total = n * d;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t row = i / d, col = i % d;
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f) - 0.5f;
    const float g = __sinf(0.001f * static_cast<float>(col));
    x[i] = 1e-3f * (g + (row % 7 == 3 ? 6.0f : 1.0f) * u);
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double time_host_ms(const std::function<void()>& f, int reps, int warmup) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    BENCH_CUDA(cudaDeviceSynchronize());
    const auto a = std::chrono::steady_clock::now();
    f();
    BENCH_CUDA(cudaDeviceSynchronize());
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  return median(t);
}

double time_events_ms(const std::function<void()>& f, int reps, int warmup) {
  cudaEvent_t a, b;
  BENCH_CUDA(cudaEventCreate(&a));
  BENCH_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    BENCH_CUDA(cudaEventRecord(a));
    f();
    BENCH_CUDA(cudaEventRecord(b));
    BENCH_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median(t);
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t comma = s.find(',', pos);
    out.push_back(std::stod(s.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

struct Options {
  std::vector<double> n{100, 1000, 10000}, d{1e5, 1e6, 1e7};
  int reps = 5, warmup = 1;
  std::string json;
  double streamed_gb = 16, streamed_cap_gb = 8;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--n")
      o.n = parse_list(next());
    else if (a == "--d")
      o.d = parse_list(next());
    else if (a == "--reps")
      o.reps = std::stoi(next());
    else if (a == "--warmup")
      o.warmup = std::stoi(next());
    else if (a == "--json")
      o.json = next();
    else if (a == "--streamed-gb")
      o.streamed_gb = std::stod(next());
    else if (a == "--streamed-cap-gb")
      o.streamed_cap_gb = std::stod(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      std::exit(2);
    }
  }
  return o;
}

std::vector<std::size_t> all_rows(std::size_t n) {
  std::vector<std::size_t> r(n);
  for (std::size_t i = 0; i < n; ++i) r[i] = i;
  return r;
}

nlohmann::json stage(const char* name, double ms, double bytes, double flops) {
  nlohmann::json j{{"stage", name}, {"ms", ms}};
  if (bytes > 0) j["gb_per_s"] = bytes / (ms * 1e-3) / 1e9;
  if (flops > 0) j["tflop_per_s"] = flops / (ms * 1e-3) / 1e12;
  return j;
}

nlohmann::json run_shape(std::size_t n, std::size_t d, const Options& o, cublasHandle_t blas) {
  nlohmann::json shape{{"n", n}, {"d", d}, {"placement", "device"}};
  const double bytes = static_cast<double>(n) * static_cast<double>(d) * sizeof(float);
  std::size_t free_b = 0, total_b = 0;
  BENCH_CUDA(cudaMemGetInfo(&free_b, &total_b));
  // The input, a copy target for the bandwidth ceiling (when it fits), the n x n products and
  // the backend's tiles: skip shapes that cannot fit.
  const double gram_bytes = 3.0 * static_cast<double>(n) * static_cast<double>(n) * 8.0;
  if (bytes + gram_bytes + (2.0 * (1u << 30)) > static_cast<double>(free_b)) {
    shape["skipped"] = "does not fit in device memory";
    return shape;
  }
  float* x = nullptr;
  BENCH_CUDA(cudaMalloc(&x, static_cast<std::size_t>(bytes)));
  fill_kernel<<<4096, 256>>>(x, n, d, 42);
  BENCH_CUDA(cudaGetLastError());
  BENCH_CUDA(cudaDeviceSynchronize());

  nlohmann::json stages = nlohmann::json::array();
  // Ceilings: device-to-device copy of as much of the input as fits twice (GB/s counts the
  // bytes read + written, the usual copy bandwidth) and SGEMM of X X^T.
  double copy_gbs = 0;
  {
    std::size_t copy_bytes =
        static_cast<std::size_t>(std::min(bytes, static_cast<double>(free_b) * 0.3));
    void* dst = nullptr;
    if (cudaMalloc(&dst, copy_bytes) == cudaSuccess) {
      const double ms = time_events_ms(
          [&] { BENCH_CUDA(cudaMemcpyAsync(dst, x, copy_bytes, cudaMemcpyDeviceToDevice)); },
          o.reps, o.warmup);
      copy_gbs = 2.0 * static_cast<double>(copy_bytes) / (ms * 1e-3) / 1e9;
      cudaFree(dst);
    } else {
      cudaGetLastError();
    }
  }
  shape["copy_gb_per_s"] = copy_gbs;
  double sgemm_tflops = 0;
  {
    float* c = nullptr;
    if (cudaMalloc(&c, n * n * sizeof(float)) == cudaSuccess) {
      const float one = 1, zero = 0;
      const double ms = time_events_ms(
          [&] {
            cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(n),
                        static_cast<int>(d), &one, x, static_cast<int>(d), x, static_cast<int>(d),
                        &zero, c, static_cast<int>(n));
          },
          o.reps, o.warmup);
      sgemm_tflops = 2.0 * n * n * static_cast<double>(d) / (ms * 1e-3) / 1e12;
      stages.push_back(stage("cublas_sgemm_xxt", ms, 0, 2.0 * n * n * static_cast<double>(d)));
      cudaFree(c);
    } else {
      cudaGetLastError();
    }
  }
  shape["sgemm_tflop_per_s"] = sgemm_tflops;

  const fedguard::UpdateView view(x, n, d, fedguard::DType::kFloat32,
                                  fedguard::Location{fedguard::MemoryKind::kCuda, 0});
  try {
    auto be = fedguard::backend::make_cuda_backend(fedguard::backend::CudaOptions{});
    fedguard::backend::ScanRequest scan;
    scan.updates = &view;
    scan.rows = all_rows(n);
    scan.gram = true;
    double ms = time_host_ms([&] { be->scan(scan); }, o.reps, o.warmup);
    stages.push_back(stage("pass1_scan_gram", ms, bytes, 2.0 * n * n * static_cast<double>(d)));
    scan.gram = false;
    ms = time_host_ms([&] { be->scan(scan); }, o.reps, o.warmup);
    stages.push_back(stage("pass1_row_stats", ms, bytes, 0));

    std::vector<float> out(d);
    const std::size_t f = n / 10;
    struct Stat {
      const char* name;
      ColumnStatistic s;
      std::size_t param;
    };
    for (const Stat& st :
         {Stat{"median", ColumnStatistic::kMedian, 0},
          Stat{"trimmed_mean", ColumnStatistic::kTrimmedMean, f},
          Stat{"bulyan_mean", ColumnStatistic::kBulyanMean, std::max<std::size_t>(1, n - 4 * f)}}) {
      fedguard::backend::CoordinateAggregateRequest req;
      req.updates = &view;
      req.rows = all_rows(n);
      req.statistic = st.s;
      req.param = st.param;
      ms = time_host_ms([&] { be->aggregate_coordinatewise(req, out.data()); }, o.reps, o.warmup);
      stages.push_back(stage(st.name, ms, bytes, 0));
    }
    fedguard::backend::LinearAggregateRequest lin;
    lin.updates = &view;
    lin.rows = all_rows(n);
    lin.coefficients.assign(n, 1.0 / static_cast<double>(n));
    ms = time_host_ms([&] { be->aggregate_linear(lin, out.data()); }, o.reps, o.warmup);
    stages.push_back(stage("weighted_mean", ms, bytes, 0));

    // Whole rounds through the engine (input checks, both passes, the policy, the result on the
    // host).
    // "recommended" is the default a user is told to start with (detection, nnm, trimmed mean).
    // "recommended_no_history" turns the two history signals off: with the engine's own stage
    // times (the last timed round's timings_ms) it gives the detection stage's cost against
    // pass 1 on this backend (issue #13: <= 10% of pass 1 at n = 1000).
    for (const char* rule : {"recommended", "recommended_no_history", "multi_krum", "median"}) {
      fedguard::EngineConfig cfg;
      if (std::string(rule).rfind("recommended", 0) == 0) {
        cfg = fedguard::EngineConfig::recommended(std::max<std::size_t>(1, f));
        if (std::string(rule) == "recommended_no_history") {
          cfg.detection.history = 0;
          cfg.detection.history_direction = 0;
        }
      } else {
        cfg.aggregator = fedguard::RuleSpec{rule};
        if (std::string(rule) == "multi_krum")
          cfg.aggregator.params = {{"f", std::max<std::size_t>(1, f)}};
      }
      cfg.backend = fedguard::BackendKind::kCuda;
      fedguard::Engine engine(cfg);
      fedguard::RoundInput in;
      in.updates = view;
      fedguard::RoundResult last;
      ms = time_host_ms([&] { last = engine.process_round(in); }, o.reps, o.warmup);
      nlohmann::json st = stage(std::string("round_" + std::string(rule)).c_str(), ms, bytes, 0);
      nlohmann::json engine_ms = nlohmann::json::object();
      for (const auto& [name, t] : last.timings_ms) engine_ms[name] = t;
      st["engine_stages_ms"] = engine_ms;
      stages.push_back(st);
    }
  } catch (const fedguard::Error& e) {
    shape["error"] = e.what();
  }
  for (auto& s : stages) {
    if (s.contains("gb_per_s") && copy_gbs > 0)
      s["fraction_of_copy"] = s["gb_per_s"].get<double>() / copy_gbs;
    if (s.contains("tflop_per_s") && sgemm_tflops > 0 && s["stage"] != "cublas_sgemm_xxt")
      s["fraction_of_sgemm"] = s["tflop_per_s"].get<double>() / sgemm_tflops;
  }
  shape["stages"] = stages;
  cudaFree(x);
  return shape;
}

// Placement (c): host input larger than the memory the backend may use (a cap below the input,
// FEDGUARD_CUDA_MEMORY_LIMIT's twin; with --streamed-cap-gb 0 and --streamed-gb above the
// device's memory, larger than the device itself).
nlohmann::json run_streamed(const Options& o) {
  const std::size_t n = 1000;
  const std::size_t d = static_cast<std::size_t>(o.streamed_gb * 1e9 / (n * sizeof(float)));
  nlohmann::json shape{
      {"n", n}, {"d", d}, {"placement", "streamed"}, {"cap_gb", o.streamed_cap_gb}};
  std::vector<float> host;
  try {
    host.resize(n * d);
  } catch (const std::bad_alloc&) {
    shape["skipped"] = "host memory";
    return shape;
  }
  for (std::size_t i = 0; i < host.size(); ++i)
    host[i] = 1e-3f * static_cast<float>((i * 2654435761u) % 1000) - 0.5f;
  const fedguard::UpdateView view(host.data(), n, d, fedguard::DType::kFloat32);
  nlohmann::json stages = nlohmann::json::array();
  const double bytes = static_cast<double>(n) * d * sizeof(float);
  // The floor of a streamed pass: the host-to-device copy of the whole input, from pinned
  // memory (the link's rate: one pinned 1 GiB buffer copied repeatedly to the device) and from
  // the pageable input itself (what a plain cudaMemcpy of the user's array achieves).
  {
    const std::size_t chunk = std::size_t{1} << 30;
    void* dev = nullptr;
    void* pinned = nullptr;
    if (cudaMalloc(&dev, chunk) == cudaSuccess && cudaMallocHost(&pinned, chunk) == cudaSuccess) {
      std::memcpy(pinned, host.data(), chunk);
      const double ms = time_events_ms(
          [&] { BENCH_CUDA(cudaMemcpyAsync(dev, pinned, chunk, cudaMemcpyHostToDevice)); }, o.reps,
          o.warmup);
      shape["h2d_pinned_gb_per_s"] = static_cast<double>(chunk) / (ms * 1e-3) / 1e9;
      const double page_ms = time_host_ms(
          [&] {
            for (std::size_t off = 0; off < host.size() * sizeof(float); off += chunk) {
              const std::size_t len = std::min(chunk, host.size() * sizeof(float) - off);
              BENCH_CUDA(cudaMemcpy(dev, reinterpret_cast<const char*>(host.data()) + off, len,
                                    cudaMemcpyHostToDevice));
            }
          },
          1, 0);
      shape["h2d_pageable_gb_per_s"] = bytes / (page_ms * 1e-3) / 1e9;
      shape["h2d_pinned_ms_for_input"] =
          bytes / (shape["h2d_pinned_gb_per_s"].get<double>() * 1e9) * 1e3;
    } else {
      cudaGetLastError();
    }
    if (dev) cudaFree(dev);
    if (pinned) cudaFreeHost(pinned);
  }
  try {
    fedguard::backend::CudaOptions opt;
    opt.memory_limit = static_cast<std::size_t>(o.streamed_cap_gb * (1u << 30));
    auto be = fedguard::backend::make_cuda_backend(opt);
    fedguard::backend::ScanRequest scan;
    scan.updates = &view;
    scan.rows = all_rows(n);
    const int reps = std::max(1, o.reps / 2);
    double ms = time_host_ms([&] { be->scan(scan); }, reps, 0);
    stages.push_back(stage("pass1_scan_gram", ms, bytes, 2.0 * n * n * static_cast<double>(d)));
    shape["plan"] = fedguard::backend::cuda_last_plan(*be);
    std::vector<float> out(d);
    fedguard::backend::CoordinateAggregateRequest req;
    req.updates = &view;
    req.rows = all_rows(n);
    ms = time_host_ms([&] { be->aggregate_coordinatewise(req, out.data()); }, reps, 0);
    stages.push_back(stage("median", ms, bytes, 0));
    shape["plan_pass2"] = fedguard::backend::cuda_last_plan(*be);
  } catch (const fedguard::Error& e) {
    shape["error"] = e.what();
  }
  if (shape.contains("h2d_pinned_ms_for_input"))
    for (auto& st : stages)
      st["over_h2d_floor"] =
          st["ms"].get<double>() / shape["h2d_pinned_ms_for_input"].get<double>();
  shape["stages"] = stages;
  return shape;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  nlohmann::json report{{"benchmark", "fedguard_gpu_bench"}};
  if (fedguard::backend::cuda_device_count() == 0) {
    std::fprintf(stderr, "no CUDA device: nothing to benchmark\n");
    report["device"] = nullptr;
    if (!o.json.empty()) {
      if (FILE* f = std::fopen(o.json.c_str(), "w")) {
        std::fputs(report.dump(2).c_str(), f);
        std::fclose(f);
      }
    }
    return 0;
  }
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  report["device"] = prop.name;
  report["reps"] = o.reps;
  report["warmup"] = o.warmup;
  cublasHandle_t blas;
  if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) return 2;
  cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH);
  nlohmann::json shapes = nlohmann::json::array();
  std::printf("%-8s %-10s %-22s %10s %10s %10s %8s %8s\n", "n", "d", "stage", "ms", "GB/s",
              "TFLOP/s", "%copy", "%sgemm");
  auto print = [](const nlohmann::json& s) {
    for (const auto& st : s.value("stages", nlohmann::json::array()))
      std::printf(
          "%-8zu %-10zu %-22s %10.3f %10.1f %10.2f %8.1f %8.1f\n", s["n"].get<std::size_t>(),
          s["d"].get<std::size_t>(), st["stage"].get<std::string>().c_str(), st["ms"].get<double>(),
          st.value("gb_per_s", 0.0), st.value("tflop_per_s", 0.0),
          100 * st.value("fraction_of_copy", 0.0), 100 * st.value("fraction_of_sgemm", 0.0));
    for (const auto& st : s.value("stages", nlohmann::json::array())) {
      if (!st.contains("engine_stages_ms")) continue;
      std::printf("%-8zu %-10zu %-22s engine stages (ms):", s["n"].get<std::size_t>(),
                  s["d"].get<std::size_t>(), st["stage"].get<std::string>().c_str());
      for (const auto& [name, t] : st["engine_stages_ms"].items())
        std::printf(" %s %.2f", name.c_str(), t.get<double>());
      std::printf("\n");
    }
    if (s.contains("h2d_pinned_gb_per_s"))
      std::printf(
          "%-8zu %-10zu host-to-device copy: pinned %.1f GB/s (%.1f ms for the input), "
          "pageable %.1f GB/s\n",
          s["n"].get<std::size_t>(), s["d"].get<std::size_t>(),
          s["h2d_pinned_gb_per_s"].get<double>(), s["h2d_pinned_ms_for_input"].get<double>(),
          s["h2d_pageable_gb_per_s"].get<double>());
    if (s.contains("skipped"))
      std::printf("%-8zu %-10zu skipped: %s\n", s["n"].get<std::size_t>(),
                  s["d"].get<std::size_t>(), s["skipped"].get<std::string>().c_str());
    if (s.contains("error"))
      std::printf("%-8zu %-10zu error: %s\n", s["n"].get<std::size_t>(), s["d"].get<std::size_t>(),
                  s["error"].get<std::string>().c_str());
    std::fflush(stdout);
  };
  for (double nd : o.n)
    for (double dd : o.d) {
      shapes.push_back(
          run_shape(static_cast<std::size_t>(nd), static_cast<std::size_t>(dd), o, blas));
      print(shapes.back());
    }
  if (o.streamed_gb > 0) {
    shapes.push_back(run_streamed(o));
    print(shapes.back());
  }
  report["shapes"] = shapes;
  cublasDestroy(blas);
  if (!o.json.empty()) {
    FILE* f = std::fopen(o.json.c_str(), "w");
    if (!f) return 2;
    std::fputs(report.dump(2).c_str(), f);
    std::fclose(f);
  }
  return 0;
}
