// CUDA devices visible to this process (empty where CUDA is not built or no device exists);
// answered by the CUDA plugin through loader.cc.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace fedguard::backend {

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
};

std::vector<DeviceInfo> cuda_devices();
/// Why cuda_devices() is empty, when it is ("built without CUDA", the driver's error, ...).
std::string cuda_status();

}  // namespace fedguard::backend
