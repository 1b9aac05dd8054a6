// libFuzzer target: policy configs (docs/config.md). The bytes go through parse_json (depth
// limit, duplicate keys, NUL bytes) and EngineConfig::from_json_value, which builds every rule;
// a config that parses must survive its own round trip through to_json().
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json_parse.h"
#include "fedguard/config.h"
#include "fedguard/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json j;
  try {
    j = fedguard::parse_json(text);
  } catch (const fedguard::JsonError& e) {
    if (e.offset() > size) __builtin_trap();  // an offset must point into the text
    return 0;
  }
  // What parse_json accepted, nlohmann's own parser accepts with the same value.
  if (nlohmann::json::parse(text) != j) __builtin_trap();
  try {
    const fedguard::EngineConfig c = fedguard::EngineConfig::from_json_value(j);
    const fedguard::EngineConfig again = fedguard::EngineConfig::from_json(c.to_json().dump());
    if (again.to_json() != c.to_json()) __builtin_trap();
  } catch (const fedguard::Error&) {
  }
  return 0;
}
