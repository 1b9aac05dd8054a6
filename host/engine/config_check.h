// The config's own values, checked without its rules: what the Engine checks before its Policy
// checks the composition and builds each rule once (EngineConfig::validate checks all three).
#pragma once

#include "fedguard/config.h"

namespace fedguard::engine {

/// Every value except the rules' names, roles and parameters (ranges, enums, the number of
/// combine weights, detection, monitoring); throws kInvalidInput naming the key.
void check_config_values(const EngineConfig& config);

}  // namespace fedguard::engine
