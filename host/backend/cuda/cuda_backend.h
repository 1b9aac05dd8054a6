// The CUDA backend's entry points, for host code. No CUDA header here: the implementation is
// the plugin libfedguard_cuda.so (cuda_backend.cu with kernels/, plugin.h), which loader.cc
// opens on the first call where an NVIDIA driver is present. Without CUDA in the build, or
// without a driver, they answer as a machine with no device (kUnsupported errors say why).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace fedguard {
// fedguard/config.h's, declared here so that the .cu files need not parse the config's JSON.
enum class Precision;
}  // namespace fedguard

namespace fedguard::backend {

/// Precision of the Gram products. Every sum across tiles is float64 whatever is chosen.
enum class GramPrecision {
  kFp32,  ///< float32 products and sums (cuBLAS default math, reduced-precision reductions off)
  kTf32,  ///< TF32 tensor cores (10-bit mantissa inputs, float32 accumulation)
  kBf16,  ///< bfloat16 inputs, float32 accumulation
};

/// The backend's precision for the config's (EngineConfig::precision).
GramPrecision gram_precision(Precision precision);

struct CudaOptions {
  int device = 0;
  GramPrecision precision = GramPrecision::kFp32;
  /// Device bytes the backend may use (0: all that is free). Also set by the environment
  /// variable FEDGUARD_CUDA_MEMORY_LIMIT (e.g. "256M"), which wins where both are set; a small
  /// cap forces placement (c), streaming from host memory.
  std::size_t memory_limit = 0;
  /// Streams per pass (tiles go round-robin; >= 2 overlaps copies with compute).
  std::size_t streams = 2;
};

/// The CUDA backend on one device. Throws kUnsupported without CUDA or without a device.
std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options);

/// Number of usable CUDA devices (0 where the build has no CUDA or the driver finds none).
int cuda_device_count();

/// Device memory holding a copy of host bytes, freed when the last owner lets go. For tests,
/// benchmarks and the Python layer (views with Location kCuda). Throws without CUDA.
std::shared_ptr<void> cuda_copy_to_device(const void* host, std::size_t bytes, int device);

/// Placement and tile width the last pass of a CUDA backend used ("copied, 4096 columns"):
/// for tests and logs; backend.last_plan(), empty for other backends.
std::string cuda_last_plan(const Backend& backend);

}  // namespace fedguard::backend
