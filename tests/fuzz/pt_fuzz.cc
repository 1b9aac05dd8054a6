// libFuzzer target: `.pt` round files (host/io/pt_round_torch.cc): the bytes go through
// LibTorch's zip reader and unpickler (torch::pickle_load) and then fedguard's interpretation of
// what comes back. Every input must give a round or a fedguard::Error; ASan checks fedguard's
// code (LibTorch itself is the system's uninstrumented build: a crash inside it still stops the
// fuzzer, a silent out-of-bounds read inside it is not seen). Built with FEDGUARD_FUZZ and
// FEDGUARD_TORCH; seeds (valid rounds written by torch::pickle_save) from pt_corpus_gen.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fedguard/error.h"
#include "io/pt_round_torch.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<char> bytes(reinterpret_cast<const char*>(data),
                                reinterpret_cast<const char*>(data) + size);
  try {
    fedguard::io::RoundData r = fedguard::io::round_from_pt_bytes(bytes, "fuzz.pt", nullptr, 0);
    unsigned sum = 0;
    const auto& u = r.updates;
    for (std::size_t i = 0; i < u.rows(); ++i) {
      if (!u.well_formed(i)) continue;
      const auto* row = static_cast<const unsigned char*>(u.row(i));
      for (std::size_t k = 0; k < u.cols() * fedguard::dtype_size(u.dtype()); ++k) sum += row[k];
    }
    for (float v : r.reference) sum += static_cast<unsigned>(v != 0);
    if (sum == 0xdeadbeef) return 1;  // keeps the reads
  } catch (const fedguard::Error& e) {
    if (std::getenv("PT_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "pt_fuzz: %s\n", e.what());
    return 0;
  }
  if (std::getenv("PT_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "pt_fuzz: a round\n");
  return 0;
}
