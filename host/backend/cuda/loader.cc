// The core's side of the CUDA backend (cuda_backend.h, devices.h): loads the plugin
// libfedguard_cuda.so (plugin.h) the first time something asks for CUDA, and only where an
// NVIDIA driver is present, so a program linking the core starts without the CUDA libraries and
// a CPU-only machine never opens them. Builds without CUDA answer "built without CUDA"; builds
// with FEDGUARD_CUDA_PLUGIN=OFF have the table linked in.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/devices.h"
#include "backend/cuda/plugin.h"
#include "fedguard/error.h"

namespace fedguard::backend {
namespace {

struct Loaded {
  const cuda::PluginTable* table = nullptr;
  std::string why;  // why table is null
};

#if defined(FEDGUARD_CUDA_LINKED)

Loaded load() { return {fedguard_cuda_plugin_v1(), ""}; }

#elif defined(FEDGUARD_HAS_CUDA)

constexpr const char* kPluginFile = "libfedguard_cuda.so";

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

// Where an installed plugin lives: next to the program or library holding this code (the
// Python extension in its package, `fedguard` in bin/), in ../lib beside bin/, or in the
// package above the wheel's _bin/; the build tree's copy last.
std::vector<std::string> plugin_candidates() {
  if (const char* forced = std::getenv("FEDGUARD_CUDA_PLUGIN"); forced && *forced) return {forced};
  std::vector<std::string> dirs;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&plugin_candidates), &info) && info.dli_fname &&
      std::strchr(info.dli_fname, '/'))
    dirs.push_back(directory_of(info.dli_fname));
  char exe[PATH_MAX];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len > 0) dirs.push_back(directory_of(std::string(exe, static_cast<std::size_t>(len))));
  std::vector<std::string> out;
  auto add = [&out](const std::string& p) {
    for (const auto& q : out)
      if (q == p) return;
    out.push_back(p);
  };
  for (const auto& d : dirs) {
    add(d + "/" + kPluginFile);
    add(d + "/../lib/" + kPluginFile);
    add(d + "/../" + kPluginFile);
  }
#ifdef FEDGUARD_CUDA_PLUGIN_BUILD_PATH
  add(FEDGUARD_CUDA_PLUGIN_BUILD_PATH);
#endif
  return out;
}

Loaded load() {
  // The driver first: without libcuda there is no device to use, and the plugin (with the
  // CUDA runtime and cuBLAS it links) is never opened. Kept open: the runtime uses it.
  if (!::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL))
    return {nullptr, "no CUDA device (CPU-only machine)"};
  std::string tried;
  for (const std::string& path : plugin_candidates()) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* err = ::dlerror();
      return {nullptr, "the CUDA backend plugin " + path +
                           " cannot be loaded: " + (err ? err : "unknown error")};
    }
    using Entry = const cuda::PluginTable* (*)();
    const auto entry = reinterpret_cast<Entry>(::dlsym(handle, "fedguard_cuda_plugin_v1"));
    const cuda::PluginTable* table = entry ? entry() : nullptr;
    if (!table)
      return {nullptr, "the CUDA backend plugin " + path + " has no fedguard_cuda_plugin_v1 entry"};
    if (table->abi != cuda::kPluginAbi || !table->version ||
        std::strcmp(table->version, FEDGUARD_VERSION) != 0 ||
        table->options_size != sizeof(CudaOptions))
      return {nullptr, "the CUDA backend plugin " + path + " is from another build (version " +
                           (table->version ? table->version : "?") + ", this program is " +
                           FEDGUARD_VERSION + ")"};
    return {table, ""};
  }
  return {nullptr, "the CUDA backend plugin " + std::string(kPluginFile) +
                       " was not found (looked for " + tried + "; FEDGUARD_CUDA_PLUGIN names it)"};
}

#else

Loaded load() { return {nullptr, "built without CUDA"}; }

#endif

const Loaded& plugin() {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  return loaded;
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const CudaOptions& options) {
  const Loaded& p = plugin();
  if (!p.table) FEDGUARD_THROW(kUnsupported, "the CUDA backend is not available: " << p.why);
  return p.table->make_backend(options);
}

int cuda_device_count() {
  const Loaded& p = plugin();
  return p.table ? p.table->device_count() : 0;
}

std::shared_ptr<void> cuda_copy_to_device(const void* host, std::size_t bytes, int device) {
  const Loaded& p = plugin();
  if (!p.table) FEDGUARD_THROW(kUnsupported, "cannot copy to a CUDA device: " << p.why);
  return p.table->copy_to_device(host, bytes, device);
}

std::vector<DeviceInfo> cuda_devices() {
  const Loaded& p = plugin();
  return p.table ? p.table->devices() : std::vector<DeviceInfo>{};
}

std::string cuda_status() {
  const Loaded& p = plugin();
  return p.table ? p.table->status() : p.why;
}

}  // namespace fedguard::backend
