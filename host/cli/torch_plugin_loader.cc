// Finds and opens libfedguard_torch.so: FEDGUARD_TORCH_PLUGIN if set, else next to the
// fedguard binary, in ../lib beside its bin/, and last the build tree's copy.
#include "cli/torch_plugin_loader.h"

#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "fedguard/error.h"
#include "io/update_log.h"

namespace fedguard::cli {
namespace {

struct Loaded {
  const sim::TorchPluginTable* table = nullptr;
  std::string why;
};

#ifdef FEDGUARD_HAS_TORCH
constexpr const char* kPluginFile = "libfedguard_torch.so";

std::vector<std::string> candidates() {
  if (const char* forced = std::getenv("FEDGUARD_TORCH_PLUGIN"); forced && *forced) return {forced};
  std::vector<std::string> out;
  char exe[PATH_MAX];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len > 0) {
    std::string dir(exe, static_cast<std::size_t>(len));
    dir = dir.substr(0, dir.rfind('/'));
    out.push_back(dir + "/" + kPluginFile);
    out.push_back(dir + "/../lib/" + kPluginFile);
  }
  out.push_back(FEDGUARD_TORCH_PLUGIN_BUILD_PATH);
  return out;
}

Loaded load() {
  std::string tried;
  for (const std::string& path : candidates()) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* err = ::dlerror();
      return {nullptr, "the LibTorch plugin " + path +
                           " cannot be loaded: " + (err ? err : "unknown error")};
    }
    using Entry = const sim::TorchPluginTable* (*)();
    const auto entry = reinterpret_cast<Entry>(::dlsym(handle, "fedguard_torch_plugin_v1"));
    const sim::TorchPluginTable* table = entry ? entry() : nullptr;
    if (!table)
      return {nullptr, "the LibTorch plugin " + path + " has no fedguard_torch_plugin_v1 entry"};
    if (table->abi != sim::kTorchPluginAbi || !table->version ||
        std::strcmp(table->version, FEDGUARD_VERSION) != 0 ||
        table->request_size != sizeof(sim::SimulateRequest) ||
        table->round_size != sizeof(io::RoundData))
      return {nullptr, "the LibTorch plugin " + path + " is from another build (version " +
                           (table->version ? table->version : "?") + ", this program is " +
                           FEDGUARD_VERSION + ")"};
    return {table, ""};
  }
  return {nullptr, std::string("the LibTorch plugin ") + kPluginFile +
                       " was not found (looked for " + tried + "; FEDGUARD_TORCH_PLUGIN names it)"};
}

io::RoundData read_pt_through_plugin(const std::string& path, const io::ManifestEntry* entry,
                                     std::size_t round) {
  return torch_plugin().read_round_pt(path, entry, round);
}
#else
Loaded load() {
  return {
      nullptr,
      "built without LibTorch (configure with -DFEDGUARD_TORCH=ON; Debian package libtorch-dev)"};
}
#endif

}  // namespace

const sim::TorchPluginTable& torch_plugin() {
  static std::once_flag once;
  static Loaded loaded;
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.table) FEDGUARD_THROW(kUnsupported, loaded.why);
  return *loaded.table;
}

void install_pt_round_reader() {
#ifdef FEDGUARD_HAS_TORCH
  io::set_pt_round_reader(&read_pt_through_plugin);
#endif
}

}  // namespace fedguard::cli
