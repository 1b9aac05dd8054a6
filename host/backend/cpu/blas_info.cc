#include "backend/cpu/blas_info.h"

#include <cblas.h>
#include <dlfcn.h>

#include <climits>
#include <cstdlib>
#include <sstream>

#ifndef FEDGUARD_BLAS_NAME
#define FEDGUARD_BLAS_NAME "OpenBLAS"
#endif

namespace fedguard::backend::cpu {

// OpenBLAS's name and version (from openblas_get_config), the kernel it chose for this CPU
// (openblas_get_corename: DYNAMIC_ARCH builds pick it at run time), its threading, the build
// selected (FEDGUARD_BLAS), and the library file actually loaded
// (dladdr: the Debian alternative, or the wheel's vendored copy). openblas_get_config's build
// flags (e.g. NO_LAPACKE: OpenBLAS built without its own LAPACKE, which fedguard takes from
// liblapacke) are left out: they read like faults.
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
  text += ", build: " FEDGUARD_BLAS_NAME;
  Dl_info where{};
  if (dladdr(reinterpret_cast<void*>(&openblas_get_config), &where) != 0 && where.dli_fname) {
    char resolved[PATH_MAX];
    text += std::string(" (") + (realpath(where.dli_fname, resolved) ? resolved : where.dli_fname) +
            ")";
  }
  return text;
}

}  // namespace fedguard::backend::cpu
