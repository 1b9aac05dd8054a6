// libFuzzer target: the client registry parser (docs/formats.md, "Client registry"), its round
// trip through the writer, and strict base64 decoding of the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fedguard/error.h"
#include "fedguard/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  namespace id = fedguard::identity;
  if (const auto raw = id::base64_decode(text)) {
    if (id::base64_encode(raw->data(), raw->size()) != text) __builtin_trap();  // canonical only
  }
  try {
    const id::Registry r = id::parse_registry(text, "R.json");
    const std::string json = id::registry_to_json(r);
    const id::Registry again = id::parse_registry(json, "again");
    if (id::registry_to_json(again) != json || again.clients.size() != r.clients.size())
      __builtin_trap();
  } catch (const fedguard::Error&) {
  }
  return 0;
}
