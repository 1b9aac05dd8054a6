// The CUDA backend's device-independent logic, on the CPU: placement choice, tile widths under
// a memory budget, the tile/stream schedule, the out-of-memory retry, the memory-limit knob,
// host-side packing, and what a build or machine without a device does.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/plan.h"
#include "backend/cuda/staging.h"
#include "fedguard/engine.h"
#include "fedguard/error.h"
#include "support/gpu.h"

namespace fedguard::test {
namespace {

namespace plan = backend::cuda_plan;

plan::ScanShape shape(std::size_t k, std::size_t d) {
  plan::ScanShape s;
  s.k = k;
  s.d = d;
  return s;
}

plan::Plan plan_scan(const plan::ScanShape& s, bool on_device, std::size_t budget,
                     std::size_t requested = 0) {
  return plan::plan_pass(
      s.k * s.d * s.elem_size, on_device, budget, requested, s.d, 2,
      [&](std::size_t w, bool streamed) { return plan::scan_stream_bytes(s, w, streamed); },
      [&](std::size_t d) { return backend::auto_tile_columns(s.k, d, backend::kCudaTile); });
}

TEST(CudaPlan, AutoTileWidth) {
  for (std::size_t k : {1, 3, 100, 1000, 4097, 10000}) {
    for (std::size_t d : {1, 255, 256, 1000, 100000, 10000000}) {
      const std::size_t w = backend::auto_tile_columns(k, d, backend::kCudaTile);
      EXPECT_EQ(w % 256, 0u) << k << " " << d;
      EXPECT_GE(w, 256u);
      EXPECT_LE(w, (d + 255) / 256 * 256);
      EXPECT_LE(k * w, std::max<std::size_t>(std::size_t{1} << 24, 256 * k));
    }
  }
  EXPECT_EQ(backend::auto_tile_columns(1000, 10000000, backend::kCudaTile),
            16640u);  // 2^24 / 1000, down to 256
  // The CPU's target, by the same function: 2^19 / 1000 = 524 -> 512 columns.
  EXPECT_EQ(backend::auto_tile_columns(1000, 10000000), 512u);
  EXPECT_EQ(backend::auto_tile_columns(1, 10000000), 65536u);
}

// Issue #16: the dense sketch's matrix R (w x q floats per stream) at small k reached 16 GiB and
// had to bound the width. The count sketch (issue #19) keeps no per-tile matrix: its device
// memory is k x q integer partials and float64 sums per stream, whatever the width, so the
// engine's aggregate sketch (one row, FLDetector) at d = 1e7 with q = 256 plans the widest tile
// within a 1 GiB budget.
TEST(CudaPlan, CountSketchMemoryDoesNotGrowWithTheWidth) {
  plan::ScanShape s = shape(1, 10000000);
  s.gram = false;
  plan::ScanShape none = s;
  s.sketch_dim = 256;
  for (std::size_t w : {256, 65536, 10000128})
    EXPECT_EQ(plan::scan_stream_bytes(s, w, false) - plan::scan_stream_bytes(none, w, false),
              256u * 16u)
        << w;
  const plan::Plan p = plan_scan(s, true, std::size_t{1} << 30);
  EXPECT_EQ(p.tile_columns, backend::auto_tile_columns(1, 10000000, backend::kCudaTile));
  EXPECT_LE(p.workspace_bytes, std::size_t{1} << 30);
}

TEST(CudaPlan, PlacementFollowsTheBudget) {
  const plan::ScanShape s = shape(100, 1000000);  // 400 MB of float32
  const std::size_t gib = std::size_t{1} << 30;
  EXPECT_EQ(plan_scan(s, true, 80 * gib).placement, plan::Placement::kDevice);
  const plan::Plan copied = plan_scan(s, false, 80 * gib);
  EXPECT_EQ(copied.placement, plan::Placement::kCopied);
  EXPECT_EQ(copied.resident_bytes, 400000000u);
  EXPECT_LE(copied.resident_bytes + copied.workspace_bytes, 80 * gib);
  // A cap below the input forces streaming (placement c), with tiles that fit the cap.
  const plan::Plan streamed = plan_scan(s, false, 64u << 20);
  EXPECT_EQ(streamed.placement, plan::Placement::kStreamed);
  EXPECT_EQ(streamed.resident_bytes, 0u);
  EXPECT_LE(streamed.workspace_bytes, 64u << 20);
  EXPECT_GE(streamed.tile_columns, 64u);
  // Copying is never chosen when the caller forbids it (pass 2 reads the input once anyway).
  const plan::Plan once = plan::plan_pass(
      400000000, false, 80 * gib, 0, s.d, 2,
      [&](std::size_t w, bool st) { return plan::scan_stream_bytes(s, w, st); },
      [&](std::size_t d) { return backend::auto_tile_columns(s.k, d, backend::kCudaTile); }, 64,
      false);
  EXPECT_EQ(once.placement, plan::Placement::kStreamed);
}

TEST(CudaPlan, RequestedWidthIsKeptWhenItFitsAndHalvedWhenNot) {
  const plan::ScanShape s = shape(50, 100000);
  EXPECT_EQ(plan_scan(s, true, std::size_t{1} << 34, 1000).tile_columns, 1000u);
  EXPECT_EQ(plan_scan(s, true, std::size_t{1} << 34, 500000).tile_columns, 100000u);  // at most d
  const std::size_t small = plan::scan_stream_bytes(s, 2000, false) * 2;
  const plan::Plan p = plan_scan(s, true, small, 8000);
  EXPECT_EQ(p.tile_columns, 2000u);  // 8000 -> 4000 -> 2000
}

TEST(CudaPlan, NothingFitsIsAClearOutOfMemoryError) {
  const plan::ScanShape s =
      shape(10000, 1000000);  // the k x k products alone need ~1.2 GB per stream
  try {
    plan_scan(s, true, 100u << 20);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find("narrowest tile"), std::string::npos) << e.what();
  }
}

TEST(CudaPlan, ScheduleCoversEveryColumnOnceRoundRobin) {
  for (std::size_t d : {1, 63, 64, 1000, 4097}) {
    for (std::size_t w : {1, 64, 1000, 5000}) {
      for (std::size_t streams : {1, 2, 3}) {
        const auto tasks = plan::tile_schedule(d, w, streams);
        std::size_t next = 0;
        for (std::size_t i = 0; i < tasks.size(); ++i) {
          EXPECT_EQ(tasks[i].index, i);
          EXPECT_EQ(tasks[i].col0, next);
          EXPECT_EQ(tasks[i].stream, i % streams);
          EXPECT_GE(tasks[i].width, 1u);
          EXPECT_LE(tasks[i].width, w);
          next += tasks[i].width;
        }
        EXPECT_EQ(next, d);
      }
    }
  }
  EXPECT_TRUE(plan::tile_schedule(0, 64, 2).empty());
}

TEST(CudaPlan, OutOfMemoryRetryHalvesThenGivesUp) {
  std::vector<std::size_t> tried;
  plan::run_with_oom_retry(4096, 64, [&](std::size_t w) {
    tried.push_back(w);
    if (w > 1000) FEDGUARD_THROW(kOutOfMemory, "too wide");
  });
  EXPECT_EQ(tried, (std::vector<std::size_t>{4096, 2048, 1024, 512}));

  tried.clear();
  std::vector<std::size_t> told;
  try {
    plan::run_with_oom_retry(
        256, 64,
        [&](std::size_t w) {
          tried.push_back(w);
          FEDGUARD_THROW(kOutOfMemory, "never fits");
        },
        [&](std::size_t next, const std::string&) { told.push_back(next); });
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kOutOfMemory);
    EXPECT_NE(std::string(e.what()).find("256, 128, 64"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tried, (std::vector<std::size_t>{256, 128, 64}));
  EXPECT_EQ(told, (std::vector<std::size_t>{128, 64}));

  // Other errors pass through at once.
  tried.clear();
  EXPECT_THROW(plan::run_with_oom_retry(1024, 64,
                                        [&](std::size_t w) {
                                          tried.push_back(w);
                                          FEDGUARD_THROW(kDeviceFailure, "broken");
                                        }),
               Error);
  EXPECT_EQ(tried.size(), 1u);
}

TEST(CudaPlan, MemoryLimitKnob) {
  EXPECT_EQ(plan::parse_memory_limit("0"), 0u);
  EXPECT_EQ(plan::parse_memory_limit("4096"), 4096u);
  EXPECT_EQ(plan::parse_memory_limit("512M"), std::size_t{512} << 20);
  EXPECT_EQ(plan::parse_memory_limit("2g"), std::size_t{2} << 30);
  EXPECT_EQ(plan::parse_memory_limit(" 3KB "), std::size_t{3} << 10);
  for (const char* bad : {"", "M", "12X", "1.5G", "-1", "99999999999999999999999"})
    EXPECT_THROW(plan::parse_memory_limit(bad), Error) << bad;
}

TEST(CudaPlan, PackRowsAndReferences) {
  const std::size_t n = 5, d = 37;
  std::vector<std::uint16_t> data(n * d);
  std::iota(data.begin(), data.end(), 0);
  const UpdateView view(data.data(), n, d, DType::kBFloat16);
  const std::vector<std::size_t> rows{4, 0, 2};
  const std::size_t col0 = 10, w = 9, stride = 16;  // elements
  std::vector<std::uint16_t> out(rows.size() * stride, 0xffff);
  plan::pack_rows(view, rows.data(), rows.size(), col0, w,
                  reinterpret_cast<unsigned char*>(out.data()), stride * sizeof(std::uint16_t));
  for (std::size_t p = 0; p < rows.size(); ++p)
    for (std::size_t j = 0; j < stride; ++j)
      EXPECT_EQ(out[p * stride + j], j < w ? data[rows[p] * d + col0 + j] : 0xffff);
  std::vector<float> ref(d);
  std::iota(ref.begin(), ref.end(), 0.5f);
  const float* refs[] = {ref.data(), ref.data()};
  std::vector<float> packed(2 * stride, -1.0f);
  plan::pack_references(refs, 2, col0, w, packed.data(), stride);
  for (std::size_t a = 0; a < 2; ++a)
    for (std::size_t j = 0; j < w; ++j) EXPECT_EQ(packed[a * stride + j], ref[col0 + j]);
}

TEST(CudaPlan, PrecisionNames) {
  EXPECT_EQ(backend::gram_precision(precision_from_string("fp32")), backend::GramPrecision::kFp32);
  EXPECT_EQ(backend::gram_precision(precision_from_string("tf32")), backend::GramPrecision::kTf32);
  EXPECT_EQ(backend::gram_precision(precision_from_string("bf16")), backend::GramPrecision::kBf16);
  EXPECT_THROW(precision_from_string("fp16"), Error);
}

// Without a device: `cuda` is a clear error, `auto` falls back to the CPU, and the CPU keeps
// rejecting reduced precisions. (With a device these are covered by the GPU tests.)
TEST(CudaPlan, SelectionWithoutDevice) {
  if (backend::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  EngineConfig cfg;
  cfg.backend = BackendKind::kCuda;
  try {
    Engine engine(cfg);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
  }
  cfg.backend = BackendKind::kAuto;
  EXPECT_EQ(Engine(cfg).backend_name(), "cpu");
  cfg.backend = BackendKind::kCpu;
  cfg.precision = Precision::kTf32;
  EXPECT_THROW(Engine{cfg}, Error);
  EXPECT_THROW(backend::make_cuda_backend(backend::CudaOptions{}), Error);
}

// GPU tests skip without a device; FEDGUARD_REQUIRE_GPU=1 (the GPU kit's run) makes that a
// failure, so a run with a missing device or a too-old driver cannot pass having run nothing.
void gpu_test_body() { FEDGUARD_REQUIRE_GPU(); }

TEST(CudaPlan, RequireGpuTurnsTheSkipIntoAFailure) {
  if (backend::cuda_device_count() > 0)
    GTEST_SKIP() << "a device is present: the no-device path is not taken here";
  const char* old = std::getenv("FEDGUARD_REQUIRE_GPU");
  const std::string saved = old ? old : "";
  ::setenv("FEDGUARD_REQUIRE_GPU", "1", 1);
  EXPECT_TRUE(gpu_required());
  EXPECT_FATAL_FAILURE(gpu_test_body(), "FEDGUARD_REQUIRE_GPU is set but no CUDA device is usable");
  ::setenv("FEDGUARD_REQUIRE_GPU", "0", 1);
  EXPECT_FALSE(gpu_required());
  if (old)
    ::setenv("FEDGUARD_REQUIRE_GPU", saved.c_str(), 1);
  else
    ::unsetenv("FEDGUARD_REQUIRE_GPU");
}

}  // namespace
}  // namespace fedguard::test
