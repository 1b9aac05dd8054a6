// libFuzzer target: the update-log manifest parser (and its round trip through the writer's JSON).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fedguard/error.h"
#include "io/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const fedguard::io::Manifest m = fedguard::io::parse_manifest(text, "manifest.json");
    const fedguard::io::Manifest again =
        fedguard::io::parse_manifest(fedguard::io::manifest_to_json(m).dump(), "again");
    if (again.rounds.size() != m.rounds.size()) __builtin_trap();
    for (const auto& e : m.rounds) {
      if (e.file.empty() || e.file.find('/') != std::string::npos || e.file == "..")
        __builtin_trap();
    }
  } catch (const fedguard::Error&) {
  }
  return 0;
}
