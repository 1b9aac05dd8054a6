// FEDGUARD_BLAS=openblas (Debian) and scipy-openblas (PyPI scipy-openblas32, its prefixed names
// mapped by cmake/blas/scipy_openblas/cblas.h).
#include <cblas.h>

#include <sstream>

#include "backend/cpu/blas_library.h"

#ifndef FEDGUARD_BLAS_NAME
#define FEDGUARD_BLAS_NAME "OpenBLAS"
#endif

namespace fedguard::backend::cpu {

void set_blas_threads(int threads) { openblas_set_num_threads(threads); }

// OpenBLAS's name and version (from openblas_get_config), the kernel it chose for this CPU
// (openblas_get_corename: DYNAMIC_ARCH builds pick it at load time, or from OPENBLAS_CORETYPE
// when set), its threading, the build selected (FEDGUARD_BLAS), and the library file actually
// loaded (dladdr: the Debian alternative, or the wheel's vendored copy). openblas_get_config's
// build flags (e.g. NO_LAPACKE: OpenBLAS built without its own LAPACKE, which fedguard takes
// from liblapacke) are left out: they read like faults.
std::string blas_description() {
  const char* config = openblas_get_config();
  const char* core = openblas_get_corename();
  std::istringstream words(config ? config : "");
  std::string name, version;
  words >> name >> version;
  std::string text = (name.empty() ? std::string("OpenBLAS") : name) +
                     (version.empty() ? "" : " " + version) + ", kernel " + (core ? core : "?");
  switch (openblas_get_parallel()) {
    case 0:
      text += ", sequential";
      break;
    case 1:
      text += ", pthreads";
      break;
    case 2:
      text += ", OpenMP";
      break;
    default:
      break;
  }
  return text + detail::build_and_files(FEDGUARD_BLAS_NAME,
                                        reinterpret_cast<const void*>(&openblas_get_config));
}

}  // namespace fedguard::backend::cpu
