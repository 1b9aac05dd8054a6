#include "backend/cpu/blas_library.h"

#include <dlfcn.h>

#include <climits>
#include <cstdlib>

namespace fedguard::backend::cpu::detail {

std::string library_file_of(const void* symbol) {
  Dl_info where{};
  if (symbol == nullptr || dladdr(symbol, &where) == 0 || where.dli_fname == nullptr) return "";
  char resolved[PATH_MAX];
  return std::string(" (") + (realpath(where.dli_fname, resolved) ? resolved : where.dli_fname) +
         ")";
}

// Which file answers LAPACK matters where it is not the BLAS library: the BLIS build takes
// LAPACKE from Debian's liblapacke, whose liblapack.so.3 is an alternative (OpenBLAS's copy where
// libopenblas is installed, the reference LAPACK otherwise). Looked up by name, not declared:
// scipy-openblas32 prefixes its symbols, and then there is nothing to add.
std::string lapack_file_unless(const std::string& blas_file) {
  const std::string file = library_file_of(dlsym(RTLD_DEFAULT, "dsyevr_"));
  if (file.empty() || file == blas_file) return "";
  return ", LAPACK: " + file.substr(2, file.size() - 3);  // without library_file_of's " (" ")"
}

}  // namespace fedguard::backend::cpu::detail
