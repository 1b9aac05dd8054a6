// Per-device resources (see resources.cuh).
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "backend/cuda/resources.cuh"
#include "kernels/cuda_check.cuh"

namespace fedguard::backend::cuda {

namespace {
constexpr std::size_t kMarginBytes = std::size_t{256}
                                     << 20;  // context, cuBLAS workspaces, fragmentation
}  // namespace

void DeviceBuffer::reset() noexcept {
  if (res_ != nullptr && ptr_ != nullptr) res_->release(ptr_, bytes_);
  res_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

Resources::Resources(int device, std::size_t memory_limit, std::size_t streams)
    : device_(device), limit_(memory_limit) {
  FEDGUARD_EXPECTS(streams >= 1, "the CUDA backend needs at least one stream");
  DeviceGuard guard(device);
  try {
    cudaMemPoolProps props{};
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    FEDGUARD_CUDA_TRY(cudaMemPoolCreate(&pool_, &props));
    // Keep freed memory cached within an operation; trim() hands it back at the end of one.
    std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
    FEDGUARD_CUDA_TRY(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &threshold));
    for (std::size_t i = 0; i < streams; ++i) {
      cudaStream_t s = nullptr;
      FEDGUARD_CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams_.push_back(s);
      cublasHandle_t h = nullptr;
      FEDGUARD_CUBLAS_TRY(cublasCreate(&h));
      cublas_.push_back(h);
      FEDGUARD_CUBLAS_TRY(cublasSetStream(h, s));
      // Explicit: plain fp32 unless a call asks for TF32 or bf16 through its compute type, and
      // no reduced-precision reductions.
      FEDGUARD_CUBLAS_TRY(cublasSetMathMode(
          h, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                       CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
      FEDGUARD_CUBLAS_TRY(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    }
  } catch (...) {
    for (auto h : cublas_) cublasDestroy(h);
    for (auto s : streams_) cudaStreamDestroy(s);
    if (pool_) cudaMemPoolDestroy(pool_);
    throw;
  }
}

Resources::~Resources() {
  DeviceGuard guard(device_, /*quiet=*/true);
  synchronize_quietly();
  if (cusolver_) cusolverDnDestroy(cusolver_);
  for (auto h : cublas_) cublasDestroy(h);
  for (auto e : events_)
    if (e) FEDGUARD_CUDA_REPORT(cudaEventDestroy(e));
  for (auto& p : pinned_)
    if (p.ptr) FEDGUARD_CUDA_REPORT(cudaFreeHost(p.ptr));
  for (auto s : streams_) FEDGUARD_CUDA_REPORT(cudaStreamDestroy(s));
  if (pool_) FEDGUARD_CUDA_REPORT(cudaMemPoolDestroy(pool_));
}

cusolverDnHandle_t Resources::cusolver() {
  if (!cusolver_) {
    FEDGUARD_CUSOLVER_TRY(cusolverDnCreate(&cusolver_));
    FEDGUARD_CUSOLVER_TRY(cusolverDnSetStream(cusolver_, streams_[0]));
  }
  return cusolver_;
}

DeviceBuffer Resources::allocate(std::size_t bytes) {
  if (bytes == 0) return DeviceBuffer{};
  if (limit_ != 0 && (bytes > limit_ || in_use_ > limit_ - bytes))
    FEDGUARD_THROW(kOutOfMemory,
                   "CUDA backend memory limit: " << bytes << " more bytes would exceed the cap of "
                                                 << limit_ << " (" << in_use_ << " in use)");
  void* ptr = nullptr;
  const cudaError_t err = cudaMallocFromPoolAsync(&ptr, bytes, pool_, streams_[0]);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (err == cudaErrorMemoryAllocation)
      FEDGUARD_THROW(kOutOfMemory, "CUDA device out of memory allocating "
                                       << bytes << " bytes (" << in_use_ << " held by fedguard)");
    FEDGUARD_CUDA_TRY(err);
  }
  // Other streams use the memory: make the allocation complete before returning it.
  FEDGUARD_CUDA_TRY(cudaStreamSynchronize(streams_[0]));
  in_use_ += bytes;
  return DeviceBuffer(this, ptr, bytes);
}

void Resources::release(void* ptr, std::size_t bytes) noexcept {
  FEDGUARD_CUDA_REPORT(cudaFreeAsync(ptr, streams_[0]));
  in_use_ -= std::min(in_use_, bytes);
}

std::size_t Resources::pool_cached() const {
  // Freed into the pool (release threshold UINT64_MAX: kept until trim()) but not yet handed back:
  // cudaMemGetInfo counts it as used, yet the next allocation gets it at once.
  std::uint64_t reserved = 0, used = 0;
  if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) != cudaSuccess ||
      cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &used) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return reserved > used ? static_cast<std::size_t>(reserved - used) : 0;
}

std::size_t Resources::budget() const {
  std::size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
    cudaGetLastError();
    free_bytes = 0;
  }
  free_bytes += pool_cached();
  std::size_t b = free_bytes > kMarginBytes ? free_bytes - kMarginBytes : 0;
  if (limit_ != 0) b = std::min(b, limit_ > in_use_ ? limit_ - in_use_ : 0);
  return b;
}

void Resources::trim() noexcept {
  // Best effort (a failure here loses no result): reported and cleared, never left pending for
  // the next launch check to blame on its kernel.
  FEDGUARD_CUDA_REPORT(cudaStreamSynchronize(streams_[0]));
  FEDGUARD_CUDA_REPORT(cudaMemPoolTrimTo(pool_, 0));
}

unsigned char* Resources::pinned(std::size_t slot, std::size_t bytes) {
  if (pinned_.size() <= slot) pinned_.resize(slot + 1);
  Pinned& p = pinned_[slot];
  if (p.bytes < bytes) {
    if (p.ptr) {
      // The slot's previous user may still be copying from it.
      synchronize();
      FEDGUARD_CUDA_TRY(cudaFreeHost(p.ptr));
      p.ptr = nullptr;
      p.bytes = 0;
    }
    const cudaError_t err = cudaHostAlloc(&p.ptr, bytes, cudaHostAllocPortable);
    if (err != cudaSuccess) {
      cudaGetLastError();
      p.ptr = nullptr;
      FEDGUARD_THROW(kOutOfMemory, "cannot pin " << bytes << " bytes of host memory for staging: "
                                                 << cudaGetErrorString(err));
    }
    p.bytes = bytes;
  }
  return static_cast<unsigned char*>(p.ptr);
}

cudaEvent_t Resources::event(std::size_t slot) {
  if (events_.size() <= slot) events_.resize(slot + 1, nullptr);
  if (!events_[slot])
    FEDGUARD_CUDA_TRY(cudaEventCreateWithFlags(&events_[slot], cudaEventDisableTiming));
  return events_[slot];
}

void Resources::synchronize() {
  for (auto s : streams_) FEDGUARD_CUDA_TRY(cudaStreamSynchronize(s));
}

void Resources::synchronize_quietly() noexcept {
  for (auto s : streams_) FEDGUARD_CUDA_REPORT(cudaStreamSynchronize(s));
}

DeviceGuard::DeviceGuard(int device, bool quiet) {
  if (cudaGetDevice(&previous_) != cudaSuccess) {
    cudaGetLastError();
    previous_ = device;
  }
  if (previous_ == device) return;
  if (quiet) {
    FEDGUARD_CUDA_REPORT(cudaSetDevice(device));
  } else {
    FEDGUARD_CUDA_TRY(cudaSetDevice(device));
  }
}

DeviceGuard::~DeviceGuard() {
  int now = previous_;
  if (cudaGetDevice(&now) != cudaSuccess) {
    cudaGetLastError();
    return;
  }
  if (now != previous_) FEDGUARD_CUDA_REPORT(cudaSetDevice(previous_));
}

NvtxRange::NvtxRange(const char* name) { nvtxRangePushA(name); }
NvtxRange::~NvtxRange() { nvtxRangePop(); }

}  // namespace fedguard::backend::cuda
