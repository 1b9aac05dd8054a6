#include "backend/cpu/blas_library.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>

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
