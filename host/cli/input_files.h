// The CLI's readers of small input files: one reader of policy JSON for every subcommand, the
// id list of `fedguard round`, JSON parameter files. Regular files only (a FIFO or directory is
// an error naming the path, at once), at most kMaxTextFileBytes, parsed by parse_json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fedguard/config.h"

namespace fedguard::cli {

/// The policy JSON file at path (docs/config.md); every error names the path.
EngineConfig read_config_file(const std::string& path);

/// Any JSON file (attack parameters, simulator configs); errors name the path.
nlohmann::json read_json_file(const std::string& path);

/// One client id a line (trailing spaces and CR dropped, blank lines skipped); ids must be
/// valid UTF-8 without control characters (they end up in JSON output), or kIo naming the
/// line.
std::vector<std::string> read_ids_file(const std::string& path);

}  // namespace fedguard::cli
