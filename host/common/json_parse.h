// The one JSON parser for every JSON text fedguard reads (configs, update-log manifests,
// safetensors headers, state-file headers, and later registry and signature files). On top of
// nlohmann_json's parser it refuses what a hostile file could use against the reader or its
// user: nesting deeper than a limit (a recursive walk over 100,000 levels overflows the stack),
// duplicate keys (the last value would silently win: two "aggregator" entries, one reviewed and
// one not), NUL bytes (raw, or \u0000 in a string: ids and names are C strings elsewhere), and
// numbers beyond the double range.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fedguard/error.h"

namespace fedguard {

/// Nesting limit of every JSON text fedguard reads (the deepest legitimate one, a config,
/// needs 4 levels).
constexpr std::size_t kMaxJsonDepth = 64;

/// A JSON text refused by parse_json: where (byte offset into the text) and why. Its what()
/// is "offset <N>: <reason>"; callers prefix the file's name.
class JsonError : public Error {
 public:
  JsonError(std::size_t offset, std::string reason);
  std::size_t offset() const { return offset_; }
  const std::string& reason() const { return reason_; }

 private:
  std::size_t offset_;
  std::string reason_;
};

/// Parses one JSON value (surrounding whitespace allowed, nothing else after it). Throws
/// JsonError for invalid JSON, nesting deeper than max_depth, a duplicate key in one object,
/// a NUL byte, or a number beyond the double range. Never recurses on the text's nesting.
nlohmann::json parse_json(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

}  // namespace fedguard
