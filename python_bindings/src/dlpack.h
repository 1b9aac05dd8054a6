// The DLPack data structures fedguard consumes (https://github.com/dmlc/dlpack, v1.0 ABI,
// Apache-2.0). Only the declarations a consumer needs: the tensor descriptor, the legacy
// (unversioned, capsule name "dltensor") and the versioned (capsule name
// "dltensor_versioned") managed tensors. The layouts are fixed by the DLPack ABI.
#pragma once

#include <cstdint>

extern "C" {

enum DLDeviceType : std::int32_t {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,  ///< pinned host memory, readable from the host
  kDLROCM = 10,
  kDLROCMHost = 11,
  kDLCUDAManaged = 13,
};

struct DLDevice {
  std::int32_t device_type;
  std::int32_t device_id;
};

enum DLDataTypeCode : std::uint8_t {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLOpaqueHandle = 3,
  kDLBfloat = 4,
  kDLComplex = 5,
  kDLBool = 6,
};

struct DLDataType {
  std::uint8_t code;
  std::uint8_t bits;
  std::uint16_t lanes;
};

struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;  ///< in elements; null means compact row-major
  std::uint64_t byte_offset;
};

struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);  ///< may be null
};

struct DLPackVersion {
  std::uint32_t major;
  std::uint32_t minor;
};

/// DLManagedTensorVersioned::flags bits.
constexpr std::uint64_t kDLPackFlagReadOnly = 1ULL << 0;
constexpr std::uint64_t kDLPackFlagIsCopied = 1ULL << 1;

struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);  ///< may be null
  std::uint64_t flags;
  DLTensor dl_tensor;
};

}  // extern "C"
