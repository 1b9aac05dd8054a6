// The CUDA backend as a plugin: the table of entry points that libfedguard_cuda.so exports
// (plugin.cc) and the core's loader (loader.cc) calls through. Both sides are built from the
// same sources in the same build, so the table passes C++ types; the loader still refuses a
// plugin of another version or ABI (a stale file next to a newer program).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/devices.h"

namespace fedguard::backend::cuda {

/// Bumped whenever PluginTable or a type it passes changes.
constexpr std::uint32_t kPluginAbi = 1;

struct PluginTable {
  std::uint32_t abi = kPluginAbi;
  const char* version = nullptr;  ///< FEDGUARD_VERSION of the plugin's build
  std::size_t options_size = 0;   ///< sizeof(CudaOptions) in the plugin's build
  std::unique_ptr<Backend> (*make_backend)(const CudaOptions& options) = nullptr;
  int (*device_count)() = nullptr;
  std::shared_ptr<void> (*copy_to_device)(const void* host, std::size_t bytes,
                                          int device) = nullptr;
  std::vector<DeviceInfo> (*devices)() = nullptr;
  std::string (*status)() = nullptr;
};

// The implementations (cuda_backend.cu, device_query.cu), inside the plugin.
std::unique_ptr<Backend> make_backend(const CudaOptions& options);
int device_count();
std::shared_ptr<void> copy_to_device(const void* host, std::size_t bytes, int device);
std::vector<DeviceInfo> devices();
std::string status();

}  // namespace fedguard::backend::cuda

/// The plugin's one exported symbol.
extern "C" const fedguard::backend::cuda::PluginTable* fedguard_cuda_plugin_v1();
