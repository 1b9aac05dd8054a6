// Throwing check macros for CUDA, cuBLAS and cuSOLVER calls and for kernel launches. Each
// failure becomes a fedguard::Error naming the call, the file and the line: kOutOfMemory for
// allocation failures, kDeviceFailure for everything else. Nothing here aborts.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>

#include "fedguard/error.h"

namespace fedguard::kernels::detail {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_<unknown>";
}

inline const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    default:
      return "CUSOLVER_STATUS_<other>";
  }
}

/// Which kernels this process launched, for the GPU kit's coverage check
/// (bench/gpu/check_kernel_coverage.py): with FEDGUARD_KERNEL_LOG=FILE, every name passed to
/// FEDGUARD_CUDA_CHECK_LAUNCH is collected and written to FILE, one a line, at exit. Without the
/// variable a launch costs one relaxed atomic load. (Inline: one instance per process.)
class LaunchLog {
 public:
  static LaunchLog& instance() {
    static LaunchLog log;
    return log;
  }
  void add(const char* name) noexcept {
    if (!enabled_.load(std::memory_order_relaxed)) return;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      names_.insert(name);
    } catch (...) {  // a name lost, never a launch
    }
  }
  ~LaunchLog() {
    if (!enabled_.load(std::memory_order_relaxed)) return;
    if (std::FILE* f = std::fopen(path_.c_str(), "w")) {
      for (const std::string& n : names_) std::fprintf(f, "%s\n", n.c_str());
      std::fclose(f);
    }
  }

 private:
  LaunchLog() {
    const char* p = std::getenv("FEDGUARD_KERNEL_LOG");
    if (p != nullptr && *p != '\0') {
      path_ = p;
      enabled_.store(true, std::memory_order_relaxed);
    }
  }
  std::atomic<bool> enabled_{false};
  std::string path_;
  std::mutex mutex_;
  std::set<std::string> names_;
};

/// For calls whose failure cannot be thrown (destructors, noexcept release, best-effort trims):
/// says what failed on stderr and clears the error, so that the next launch check does not
/// blame an unrelated kernel for it.
inline void report_and_clear(cudaError_t err, const char* call, const char* file,
                             int line) noexcept {
  if (err == cudaSuccess) return;
  std::fprintf(stderr, "fedguard: CUDA error %s (%s) in %s at %s:%d (not thrown: cleanup path)\n",
               cudaGetErrorName(err), cudaGetErrorString(err), call, file, line);
  cudaGetLastError();
}

}  // namespace fedguard::kernels::detail

/// A call on a path that must not throw: its error is reported on stderr and cleared.
#define FEDGUARD_CUDA_REPORT(call) \
  ::fedguard::kernels::detail::report_and_clear((call), #call, __FILE__, __LINE__)

#define FEDGUARD_CUDA_TRY(call)                                                                  \
  do {                                                                                           \
    const cudaError_t fedguard_err_ = (call);                                                    \
    if (fedguard_err_ != cudaSuccess) {                                                          \
      cudaGetLastError(); /* clear a non-sticky error so the next call does not report it */     \
      if (fedguard_err_ == cudaErrorMemoryAllocation)                                            \
        FEDGUARD_THROW(kOutOfMemory,                                                             \
                       "CUDA out of memory in " #call " at " << __FILE__ << ":" << __LINE__);    \
      FEDGUARD_THROW(kDeviceFailure, "CUDA error " << cudaGetErrorName(fedguard_err_) << " ("    \
                                                   << cudaGetErrorString(fedguard_err_)          \
                                                   << ") in " #call << " at " << __FILE__ << ":" \
                                                   << __LINE__);                                 \
    }                                                                                            \
  } while (0)

#define FEDGUARD_CUBLAS_TRY(call)                                                               \
  do {                                                                                          \
    const cublasStatus_t fedguard_st_ = (call);                                                 \
    if (fedguard_st_ != CUBLAS_STATUS_SUCCESS) {                                                \
      if (fedguard_st_ == CUBLAS_STATUS_ALLOC_FAILED)                                           \
        FEDGUARD_THROW(kOutOfMemory,                                                            \
                       "cuBLAS out of memory in " #call " at " << __FILE__ << ":" << __LINE__); \
      FEDGUARD_THROW(kDeviceFailure,                                                            \
                     "cuBLAS error "                                                            \
                         << ::fedguard::kernels::detail::cublas_status_name(fedguard_st_)       \
                         << " in " #call " at " << __FILE__ << ":" << __LINE__);                \
    }                                                                                           \
  } while (0)

#define FEDGUARD_CUSOLVER_TRY(call)                                                               \
  do {                                                                                            \
    const cusolverStatus_t fedguard_st_ = (call);                                                 \
    if (fedguard_st_ != CUSOLVER_STATUS_SUCCESS) {                                                \
      if (fedguard_st_ == CUSOLVER_STATUS_ALLOC_FAILED)                                           \
        FEDGUARD_THROW(kOutOfMemory,                                                              \
                       "cuSOLVER out of memory in " #call " at " << __FILE__ << ":" << __LINE__); \
      FEDGUARD_THROW(kDeviceFailure,                                                              \
                     "cuSOLVER error "                                                            \
                         << ::fedguard::kernels::detail::cusolver_status_name(fedguard_st_)       \
                         << " in " #call " at " << __FILE__ << ":" << __LINE__);                  \
    }                                                                                             \
  } while (0)

// After every kernel launch: a bad configuration shows up here, not at the next sync.
#define FEDGUARD_CUDA_CHECK_LAUNCH(name)                                                           \
  do {                                                                                             \
    ::fedguard::kernels::detail::LaunchLog::instance().add(name);                                  \
    const cudaError_t fedguard_err_ = cudaGetLastError();                                          \
    if (fedguard_err_ != cudaSuccess)                                                              \
      FEDGUARD_THROW(kDeviceFailure, "launch of kernel "                                           \
                                         << (name)                                                 \
                                         << " failed: " << cudaGetErrorName(fedguard_err_) << " (" \
                                         << cudaGetErrorString(fedguard_err_) << ") at "           \
                                         << __FILE__ << ":" << __LINE__);                          \
  } while (0)
