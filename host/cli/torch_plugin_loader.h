// Loads the LibTorch plugin (host/sim/torch_plugin.h) for the commands that need it.
#pragma once

#include "sim/torch_plugin.h"

namespace fedguard::cli {

/// The plugin's table, loaded on the first call. Throws kUnsupported when the build has no
/// LibTorch, or when libfedguard_torch.so cannot be found or loaded (naming where it looked
/// and why).
const sim::TorchPluginTable& torch_plugin();

/// Makes `.pt` rounds readable (io::set_pt_round_reader) through the plugin, which is loaded
/// only when the first .pt round is read. Does nothing in a build without LibTorch (reading a
/// .pt round then says so).
void install_pt_round_reader();

}  // namespace fedguard::cli
