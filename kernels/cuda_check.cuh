// Throwing check macros for CUDA, cuBLAS and cuSOLVER calls and for kernel launches. Each
// failure becomes a fedguard::Error naming the call, the file and the line: kOutOfMemory for
// allocation failures, kDeviceFailure for everything else. Nothing here aborts.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include "fedguard/error.h"

namespace fedguard::cuda::detail {

inline const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_<unknown>";
}

inline const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    default: return "CUSOLVER_STATUS_<other>";
  }
}

}  // namespace fedguard::cuda::detail

#define FEDGUARD_CUDA_TRY(call)                                                                     \
  do {                                                                                              \
    const cudaError_t fedguard_err_ = (call);                                                       \
    if (fedguard_err_ != cudaSuccess) {                                                             \
      cudaGetLastError(); /* clear a non-sticky error so the next call does not report it */       \
      if (fedguard_err_ == cudaErrorMemoryAllocation)                                               \
        FEDGUARD_THROW(kOutOfMemory, "CUDA out of memory in " #call " at " << __FILE__ << ":" << __LINE__); \
      FEDGUARD_THROW(kDeviceFailure, "CUDA error " << cudaGetErrorName(fedguard_err_) << " ("          \
                                                   << cudaGetErrorString(fedguard_err_) << ") in " #call   \
                                                   << " at " << __FILE__ << ":" << __LINE__);      \
    }                                                                                               \
  } while (0)

#define FEDGUARD_CUBLAS_TRY(call)                                                                   \
  do {                                                                                              \
    const cublasStatus_t fedguard_st_ = (call);                                                     \
    if (fedguard_st_ != CUBLAS_STATUS_SUCCESS) {                                                    \
      if (fedguard_st_ == CUBLAS_STATUS_ALLOC_FAILED)                                               \
        FEDGUARD_THROW(kOutOfMemory, "cuBLAS out of memory in " #call " at " << __FILE__ << ":" << __LINE__); \
      FEDGUARD_THROW(kDeviceFailure, "cuBLAS error " << ::fedguard::cuda::detail::cublas_status_name(fedguard_st_) \
                                                     << " in " #call " at " << __FILE__ << ":" << __LINE__); \
    }                                                                                               \
  } while (0)

#define FEDGUARD_CUSOLVER_TRY(call)                                                                 \
  do {                                                                                              \
    const cusolverStatus_t fedguard_st_ = (call);                                                   \
    if (fedguard_st_ != CUSOLVER_STATUS_SUCCESS) {                                                  \
      if (fedguard_st_ == CUSOLVER_STATUS_ALLOC_FAILED)                                             \
        FEDGUARD_THROW(kOutOfMemory, "cuSOLVER out of memory in " #call " at " << __FILE__ << ":" << __LINE__); \
      FEDGUARD_THROW(kDeviceFailure, "cuSOLVER error "                                             \
                                         << ::fedguard::cuda::detail::cusolver_status_name(fedguard_st_) \
                                         << " in " #call " at " << __FILE__ << ":" << __LINE__);   \
    }                                                                                               \
  } while (0)

// After every kernel launch: a bad configuration shows up here, not at the next sync.
#define FEDGUARD_CUDA_CHECK_LAUNCH(name)                                                            \
  do {                                                                                              \
    const cudaError_t fedguard_err_ = cudaGetLastError();                                           \
    if (fedguard_err_ != cudaSuccess)                                                               \
      FEDGUARD_THROW(kDeviceFailure, "launch of kernel " << (name) << " failed: "                   \
                                                         << cudaGetErrorName(fedguard_err_) << " (" \
                                                         << cudaGetErrorString(fedguard_err_) << ") at " \
                                                         << __FILE__ << ":" << __LINE__);          \
  } while (0)
