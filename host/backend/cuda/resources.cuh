// Per-device resources of the CUDA backend: streams, one cuBLAS handle per stream (math mode
// set explicitly), a cuSOLVER handle, a stream-ordered memory pool with an optional cap on
// what the backend may hold, pinned host staging slots and their events. One object per
// device, owned by the backend and passed to whatever needs it; nothing global.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <cstddef>
#include <vector>

namespace fedguard::backend::cuda {

class Resources;

/// Device memory from the resources' pool, returned to it on destruction. Freed on stream 0:
/// the owner must make sure no stream still uses it (the driver synchronises every stream
/// before its buffers go out of scope).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : res_(o.res_), ptr_(o.ptr_), bytes_(o.bytes_) {
    o.res_ = nullptr;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      res_ = o.res_;
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.res_ = nullptr;
      o.ptr_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void reset() noexcept;
  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  friend class Resources;
  DeviceBuffer(Resources* res, void* ptr, std::size_t bytes)
      : res_(res), ptr_(ptr), bytes_(bytes) {}
  Resources* res_ = nullptr;
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

class Resources {
 public:
  /// @param device CUDA ordinal
  /// @param memory_limit bytes the backend may hold at once (0: no cap beyond free memory)
  /// @param streams non-blocking streams, each with its own cuBLAS handle
  Resources(int device, std::size_t memory_limit, std::size_t streams);
  ~Resources();
  Resources(const Resources&) = delete;
  Resources& operator=(const Resources&) = delete;

  int device() const { return device_; }
  std::size_t streams() const { return streams_.size(); }
  cudaStream_t stream(std::size_t i) const { return streams_[i]; }
  /// cuBLAS handle bound to stream(i); default math, reduced-precision reductions disallowed.
  cublasHandle_t cublas(std::size_t i) const { return cublas_[i]; }
  /// cuSOLVER handle bound to stream(0), created on first use.
  cusolverDnHandle_t cusolver();

  /// Stream-ordered allocation (visible to every stream on return). kOutOfMemory when the
  /// device has no room or the cap would be exceeded.
  DeviceBuffer allocate(std::size_t bytes);
  /// Bytes a plan may still allocate: the cap minus what is held, and at most the device's
  /// free memory plus what the pool caches (freed but not yet trimmed: the previous round's
  /// resident copy, a failed attempt's buffers) minus a safety margin for cuBLAS workspaces and
  /// the context.
  std::size_t budget() const;
  /// Bytes the pool holds freed but not handed back to the device.
  std::size_t pool_cached() const;
  std::size_t memory_limit() const { return limit_; }
  std::size_t in_use() const { return in_use_; }
  /// Returns the pool's cached free memory to the device (at the end of each public operation,
  /// and after the previous round's copy is released). Never throws: failures are reported on
  /// stderr and cleared.
  void trim() noexcept;

  /// Pinned host buffer `slot` of at least `bytes` (grown on demand, kept for later rounds).
  unsigned char* pinned(std::size_t slot, std::size_t bytes);
  /// Event of slot `slot` (timing disabled), created on first use.
  cudaEvent_t event(std::size_t slot);

  /// Waits for every stream; throws on an asynchronous error.
  void synchronize();
  /// Same, for destructors and error paths: never throws.
  void synchronize_quietly() noexcept;

 private:
  friend class DeviceBuffer;
  void release(void* ptr, std::size_t bytes) noexcept;

  int device_ = 0;
  std::size_t limit_ = 0;
  std::size_t in_use_ = 0;
  cudaMemPool_t pool_ = nullptr;
  std::vector<cudaStream_t> streams_;
  std::vector<cublasHandle_t> cublas_;
  cusolverDnHandle_t cusolver_ = nullptr;
  struct Pinned {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };
  std::vector<Pinned> pinned_;
  std::vector<cudaEvent_t> events_;
};

/// Synchronises every stream when it goes out of scope (declare it after the buffers a pass
/// uses, so that they are freed only once no stream touches them, on success and on throw).
class StreamsGuard {
 public:
  explicit StreamsGuard(Resources& res) : res_(res) {}
  ~StreamsGuard() { res_.synchronize_quietly(); }
  StreamsGuard(const StreamsGuard&) = delete;
  StreamsGuard& operator=(const StreamsGuard&) = delete;

 private:
  Resources& res_;
};

/// Makes `device` current for the scope and restores the previous one. `quiet` (for
/// destructors) never throws: a failure to switch is reported on stderr and cleared, as is a
/// failure to switch back.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device, bool quiet = false);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

/// An NVTX range around a public GPU operation.
class NvtxRange {
 public:
  explicit NvtxRange(const char* name);
  ~NvtxRange();
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace fedguard::backend::cuda
