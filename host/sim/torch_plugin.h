// The LibTorch components as a plugin (libfedguard_torch.so): the simulator behind
// `fedguard simulate` and the `.pt` reader of update logs. Only the commands that need them
// load it (host/cli/torch_plugin_loader.cc), so no other command, and no program linking the
// core, pays LibTorch's start-up. Both sides are built from the same sources in one build; the
// loader refuses a plugin of another version or ABI.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/manifest.h"
#include "io/update_log.h"

namespace fedguard::sim {

/// `fedguard simulate`'s options (host/cli/simulate_command.cc).
struct SimulateRequest {
  std::string config, matrix, out_dir, log_dir;
  std::string executable;  ///< this program, which the matrix runs once per cell
  std::size_t jobs = 2;
  bool rerun = false, quiet = false;
};

/// Bumped whenever TorchPluginTable or a type it passes changes.
constexpr std::uint32_t kTorchPluginAbi = 1;

struct TorchPluginTable {
  std::uint32_t abi = kTorchPluginAbi;
  const char* version = nullptr;  ///< FEDGUARD_VERSION of the plugin's build
  std::size_t request_size = 0;   ///< sizeof(SimulateRequest) there
  std::size_t round_size = 0;     ///< sizeof(io::RoundData) there
  /// Runs one simulation or a matrix; returns the command's exit code.
  int (*simulate)(const SimulateRequest& request) = nullptr;
  /// io::read_round_pt (io/pt_round_torch.h).
  io::PtRoundReader read_round_pt = nullptr;
};

}  // namespace fedguard::sim

/// The plugin's one exported symbol.
extern "C" const fedguard::sim::TorchPluginTable* fedguard_torch_plugin_v1();
