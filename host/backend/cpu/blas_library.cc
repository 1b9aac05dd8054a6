#include "backend/cpu/blas_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <string>

namespace fedguard::backend::cpu {

// Every kernel set of OpenBLAS 0.3.x's x86-64 DYNAMIC_ARCH builds without AVX2 code (driver/
// others/dynamic.c's corename table). Haswell, Zen, SkylakeX, Cooperlake and SapphireRapids have
// it, and Excavator runs AVX2 too; a name not in this list is never second-guessed.
std::string better_openblas_kernel(const std::string& running, bool avx512_skylake_set,
                                   bool avx2_fma) {
  static const char* const kWithoutAvx2[] = {
      "unknown",   "katmai", "coppermine",  "northwood", "prescott",  "banias",     "atom",
      "core2",     "penryn", "dunnington",  "nehalem",   "athlon",    "opteron",    "opteron_sse3",
      "barcelona", "nano",   "sandybridge", "bobcat",    "bulldozer", "piledriver", "steamroller"};
  std::string name = running;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool weak = std::any_of(std::begin(kWithoutAvx2), std::end(kWithoutAvx2),
                                [&](const char* w) { return name == w; });
  if (!weak) return "";
  if (avx512_skylake_set) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

}  // namespace fedguard::backend::cpu

namespace fedguard::backend::cpu::detail {

namespace {

// The resolved path of the shared object that holds `symbol`, or "".
std::string file_of(const void* symbol) {
  Dl_info where{};
  if (symbol == nullptr || dladdr(symbol, &where) == 0 || where.dli_fname == nullptr) return "";
  char resolved[PATH_MAX];
  return realpath(where.dli_fname, resolved) ? resolved : where.dli_fname;
}

}  // namespace

// Which file answers LAPACK matters where it is not the BLAS library: the BLIS build takes
// LAPACKE from Debian's liblapacke, whose liblapack.so.3 is an alternative (OpenBLAS's copy where
// libopenblas is installed, the reference LAPACK otherwise). Looked up by name, not declared:
// scipy-openblas32 prefixes its symbols, and then there is nothing to add.
std::string build_and_files(const char* build_name, const void* blas_symbol) {
  const std::string blas = file_of(blas_symbol);
  std::string text = std::string(", build: ") + build_name;
  if (!blas.empty()) text += " (" + blas + ")";
  const std::string lapack = file_of(dlsym(RTLD_DEFAULT, "dsyevr_"));
  if (!lapack.empty() && lapack != blas) text += ", LAPACK: " + lapack;
  return text;
}

}  // namespace fedguard::backend::cpu::detail
