// The CUDA backend: construction, capabilities and the plugin's entry points (plugin.h). The
// passes are in scan_cuda.cu, aggregate_linear_cuda.cu and aggregate_coordinatewise_cuda.cu;
// placement and staging in placement_cuda.cuh.
//
// Placement (plan.h): (a) the view is in device memory, (b) host updates that fit are copied
// to the device during pass 1 (tile by tile, through the pinned staging slots, so host memory
// is read once) and pass 2 reads that copy, (c) otherwise both passes stream column tiles
// from pinned host buffers. Tiles go round-robin over the streams; tile i refills staging slot
// i % S only after the copy of tile i - S has left it, so packing on the host, the copy
// engine and the kernels overlap. Pass-1 accumulators are per stream (float64) and summed in
// stream order at the end, so a result depends on (tile width, streams) and never on timing.
// Out of memory: the pass is retried with tiles half as wide, then fails naming the sizes.
#include <algorithm>
#include <climits>

#include "backend/cuda/cuda_backend_impl.cuh"
#include "backend/cuda/plan.h"
#include "backend/cuda/plugin.h"

namespace fedguard::backend {
namespace cuda {

kernels::Statistic device_statistic(ColumnStatistic s) {
  switch (s) {
    case ColumnStatistic::kMedian:
      return kernels::Statistic::kMedian;
    case ColumnStatistic::kTrimmedMean:
      return kernels::Statistic::kTrimmedMean;
    case ColumnStatistic::kBulyanMean:
      return kernels::Statistic::kBulyanMean;
  }
  return kernels::Statistic::kMedian;
}

namespace {
int as_int(std::size_t v, const char* what) {
  if (v > static_cast<std::size_t>(INT_MAX))
    FEDGUARD_THROW(kUnsupported, what << " = " << v << " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}
}  // namespace

void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::size_t m,
          std::size_t n, std::size_t k, const void* a, cudaDataType at, std::size_t lda,
          const void* b, cudaDataType bt, std::size_t ldb, float* c, std::size_t ldc,
          cublasComputeType_t compute) {
  const float one = 1.0f, zero = 0.0f;
  FEDGUARD_CUBLAS_TRY(cublasGemmEx(h, ta, tb, as_int(m, "m"), as_int(n, "n"), as_int(k, "k"), &one,
                                   a, at, as_int(lda, "lda"), b, bt, as_int(ldb, "ldb"), &zero, c,
                                   CUDA_R_32F, as_int(ldc, "ldc"), compute, CUBLAS_GEMM_DEFAULT));
}

DeviceBuffer upload_bytes(Resources& res, const void* host, std::size_t bytes) {
  DeviceBuffer b = res.allocate(bytes);
  if (bytes) {
    FEDGUARD_CUDA_TRY(cudaMemcpyAsync(b.get(), host, bytes, cudaMemcpyHostToDevice, res.stream(0)));
    FEDGUARD_CUDA_TRY(cudaStreamSynchronize(res.stream(0)));
  }
  return b;
}

void download_bytes(Resources& res, std::size_t s, void* host, const void* device,
                    std::size_t bytes) {
  if (bytes == 0) return;
  FEDGUARD_CUDA_TRY(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, res.stream(s)));
  FEDGUARD_CUDA_TRY(cudaStreamSynchronize(res.stream(s)));
}

CudaBackend::CudaBackend(const CudaOptions& options) : options_(options) {
  const int count = device_count();
  if (count == 0)
    FEDGUARD_THROW(kUnsupported, "the CUDA backend needs a CUDA device, and none was found");
  FEDGUARD_EXPECTS(options.device >= 0 && options.device < count,
                   "CUDA device " << options.device << " requested, " << count << " present");
  const std::size_t env_limit = cuda_plan::memory_limit_from_env();
  if (env_limit) options_.memory_limit = env_limit;
  res_ = std::make_unique<Resources>(options_.device, options_.memory_limit,
                                     std::max<std::size_t>(1, options_.streams));
}

CudaBackend::~CudaBackend() {
  DeviceGuard guard(options_.device, /*quiet=*/true);
  resident_.clear();
}

// Device memory of any ordinal: a view on another device than the backend's gets the precise
// error of check_device() ("updates are on CUDA device 1 but the backend runs on 0").
bool CudaBackend::reads(const Location& where) const {
  return where.kind == MemoryKind::kHost || where.kind == MemoryKind::kCuda;
}

std::size_t CudaBackend::max_statistic_rows(ColumnStatistic statistic) const {
  DeviceGuard guard(options_.device);
  return kernels::column_statistic_max_rows(device_statistic(statistic), options_.device);
}

void CudaBackend::check_device(const UpdateView& view) const {
  if (view.location().kind == MemoryKind::kCuda)
    FEDGUARD_EXPECTS(view.location().device == options_.device, "updates are on CUDA device "
                                                                    << view.location().device
                                                                    << " but the backend runs on "
                                                                    << options_.device);
}

bool CudaBackend::in_place_table(const UpdateView& view, const std::vector<std::size_t>& rows,
                                 std::vector<const void*>& table) {
  table.clear();
  if (view.location().kind == MemoryKind::kCuda) {
    for (std::size_t r : rows) table.push_back(view.row(r));
    return true;
  }
  if (!resident_.data.get() || resident_.d != view.cols() || resident_.dtype != view.dtype())
    return false;
  const std::size_t elem = dtype_size(view.dtype());
  for (std::size_t r : rows) {
    const auto it = resident_.position.find(view.row(r));
    if (it == resident_.position.end()) {
      table.clear();
      return false;
    }
    table.push_back(resident_.data.as<unsigned char>() + it->second * resident_.d * elem);
  }
  return true;
}

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::unique_ptr<Backend> make_backend(const CudaOptions& options) {
  return std::make_unique<CudaBackend>(options);
}

std::shared_ptr<void> copy_to_device(const void* host, std::size_t bytes, int device) {
  DeviceGuard guard(device);
  void* ptr = nullptr;
  FEDGUARD_CUDA_TRY(cudaMalloc(&ptr, std::max<std::size_t>(bytes, 1)));
  std::shared_ptr<void> owned(ptr, [device](void* p) {
    DeviceGuard g(device, /*quiet=*/true);
    FEDGUARD_CUDA_REPORT(cudaFree(p));
  });
  if (bytes) {
    // On a stream of its own, waited for: a pageable cudaMemcpy may return before its DMA has
    // landed, and the backend's non-blocking streams would not wait for it.
    cudaStream_t s = nullptr;
    FEDGUARD_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const cudaError_t copy = cudaMemcpyAsync(ptr, host, bytes, cudaMemcpyHostToDevice, s);
    const cudaError_t sync = copy == cudaSuccess ? cudaStreamSynchronize(s) : copy;
    FEDGUARD_CUDA_REPORT(cudaStreamDestroy(s));
    FEDGUARD_CUDA_TRY(sync);
  }
  return owned;
}

}  // namespace cuda
}  // namespace fedguard::backend
