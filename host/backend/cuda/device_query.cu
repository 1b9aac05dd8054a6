// Lists CUDA devices for `fedguard info` and for backend: auto (the plugin's side; the core
// reaches it through loader.cc).
#include <cuda_runtime.h>

#include <fstream>
#include <string>

#include "backend/cuda/plugin.h"

namespace fedguard::backend::cuda {

std::vector<DeviceInfo> devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return {};
  }
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    out.push_back(DeviceInfo{i, prop.name, prop.totalGlobalMem, prop.major, prop.minor});
  }
  return out;
}

std::string status() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) cudaGetLastError();
  // No GPU, or no driver at all (the runtime then reports an "insufficient" driver): the normal
  // state of a CPU-only machine, not a fault. A driver that is present but too old is one.
  const bool driver_present = std::ifstream("/proc/driver/nvidia/version").good();
  if (err == cudaErrorNoDevice || (err == cudaErrorInsufficientDriver && !driver_present) ||
      (err == cudaSuccess && count == 0))
    return "no CUDA device (CPU-only machine)";
  if (err != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  return std::to_string(count) + " CUDA device(s)";
}

}  // namespace fedguard::backend::cuda
