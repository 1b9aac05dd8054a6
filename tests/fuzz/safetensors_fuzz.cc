// libFuzzer target: the safetensors parser and its interpretation as an update-log round.
// Every input must give a parsed round or a fedguard::Error; ASan checks that nothing is read
// outside the buffer (each accepted tensor is read in full).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fedguard/error.h"
#include "io/safetensors.h"
#include "io/update_log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const fedguard::io::SafetensorsHeader h =
        fedguard::io::parse_safetensors(data, size, "fuzz.safetensors");
    unsigned sum = 0;
    for (const auto& t : h.tensors)
      for (std::size_t i = t.begin; i < t.end; ++i) sum += data[i];
    fedguard::io::RoundData r =
        fedguard::io::round_from_safetensors(data, h, "fuzz.safetensors", nullptr, 0);
    const auto& u = r.updates;
    for (std::size_t i = 0; i < u.rows(); ++i) {
      if (!u.well_formed(i)) continue;
      const auto* row = static_cast<const unsigned char*>(u.row(i));
      for (std::size_t k = 0; k < u.cols() * fedguard::dtype_size(u.dtype()); ++k) sum += row[k];
    }
    for (float v : r.reference) sum += static_cast<unsigned>(v != 0);
    if (sum == 0xdeadbeef) return 1;  // keeps the reads
  } catch (const fedguard::Error&) {
  }
  return 0;
}
