// The CUDA backend's class and the helpers its translation units share (internal; host code
// outside host/backend/cuda/ sees only cuda_backend.h). One file per primitive, as the CPU
// backend: scan_cuda.cu (pass 1), aggregate_linear_cuda.cu and aggregate_coordinatewise_cuda.cu
// (pass 2), placement_cuda.cuh (where the rows are read from, staging, the output-tile loop),
// cuda_backend.cu (construction, capabilities, entry points). Everything in
// fedguard::backend::cuda; the kernels they launch are kernels/'s (fedguard::kernels).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/plan.h"
#include "backend/cuda/resources.cuh"
#include "fedguard/error.h"
#include "kernels/cuda_check.cuh"
#include "kernels/kernels.cuh"

namespace fedguard::backend::cuda {

/// Calls f(T{}) with T the element type of dtype t.
template <class F>
void dispatch_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32:
      f(float{});
      return;
    case DType::kFloat16:
      f(__half{});
      return;
    case DType::kBFloat16:
      f(__nv_bfloat16{});
      return;
  }
  FEDGUARD_THROW(kUnsupported, "unknown dtype");
}

kernels::Statistic device_statistic(ColumnStatistic s);

/// C (m x n, column-major, float32) = op(A) op(B); throws kUnsupported beyond cuBLAS's int range.
void gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::size_t m,
          std::size_t n, std::size_t k, const void* a, cudaDataType at, std::size_t lda,
          const void* b, cudaDataType bt, std::size_t ldb, float* c, std::size_t ldc,
          cublasComputeType_t compute);

/// A device copy of `count` host values: copied on stream(0) and waited for, so that every
/// stream may read it on return (a pageable cudaMemcpy on the legacy stream may still be in
/// flight when it returns, and non-blocking streams do not wait for it).
DeviceBuffer upload_bytes(Resources& res, const void* host, std::size_t bytes);
template <class T>
DeviceBuffer upload(Resources& res, const T* host, std::size_t count) {
  return upload_bytes(res, host, count * sizeof(T));
}
/// The reverse, for results: `bytes` from device memory on stream(s), waited for.
void download_bytes(Resources& res, std::size_t s, void* host, const void* device,
                    std::size_t bytes);

inline std::size_t round_up(std::size_t v, std::size_t q) { return (v + q - 1) / q * q; }

/// Rows' device copy kept from a scan (placement b) for the passes of the same round.
struct Resident {
  DeviceBuffer data;
  std::size_t d = 0;
  DType dtype = DType::kFloat32;
  std::unordered_map<const void*, std::size_t> position;  ///< host row pointer -> row of the copy
  void clear() {
    data.reset();
    position.clear();
    d = 0;
  }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaOptions& options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  bool reads(const Location& where) const override;
  std::size_t max_statistic_rows(ColumnStatistic statistic) const override;
  std::string last_plan() const override { return last_plan_; }

 protected:
  ScanSummaries run_scan(const ScanRequest& request) override;  // scan_cuda.cu
  void run_aggregate_linear(const LinearAggregateRequest& request,
                            float* out) override;  // aggregate_linear_cuda.cu
  void run_aggregate_coordinatewise(const CoordinateAggregateRequest& request,
                                    float* out) override;  // ..._coordinatewise_cuda.cu

 private:
  ScanSummaries scan_pass(const ScanRequest& request, cuda_plan::Placement placement,
                          std::size_t w_max);
  /// Device row table for rows read in place (the caller's device memory or the resident copy);
  /// false when neither holds all of them.
  bool in_place_table(const UpdateView& view, const std::vector<std::size_t>& rows,
                      std::vector<const void*>& table);
  /// Pass 2's tile loop over the output columns (placement_cuda.cuh).
  template <class Tile>
  void run_output_pass(const UpdateView& view, const std::vector<std::size_t>& rows,
                       const std::vector<const float*>& refs, std::size_t requested_w,
                       const std::function<std::size_t(std::size_t, bool)>& stream_bytes,
                       float* out, Tile&& tile, const char* what);
  void check_device(const UpdateView& view) const;

 public:  // for the tile functors of pass 2
  Resources& resources() { return *res_; }

 private:
  CudaOptions options_;
  std::unique_ptr<Resources> res_;
  Resident resident_;
  std::string last_plan_;
};

}  // namespace fedguard::backend::cuda
