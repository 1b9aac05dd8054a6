// libFuzzer target: the .npy header parser (each accepted array is read in full).
#include <cstddef>
#include <cstdint>

#include "fedguard/error.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const fedguard::io::NpyHeader h = fedguard::io::parse_npy(data, size, "fuzz.npy");
    std::size_t count = 1;
    for (std::size_t d : h.shape) count *= d;
    const std::size_t bytes = count * fedguard::io::npy_type_size(h.type);
    unsigned sum = 0;
    for (std::size_t i = h.data_offset; i < h.data_offset + bytes; ++i) sum += data[i];
    if (sum == 0xdeadbeef) return 1;
  } catch (const fedguard::Error&) {
  }
  return 0;
}
