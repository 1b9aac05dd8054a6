#include "backend/cpu/blas_info.h"

#include <cblas.h>

#ifndef FEDGUARD_BLAS_NAME
#define FEDGUARD_BLAS_NAME "OpenBLAS"
#endif

namespace fedguard::backend::cpu {

std::string blas_description() {
  const char* config = openblas_get_config();
  const char* core = openblas_get_corename();
  return std::string(FEDGUARD_BLAS_NAME) + ": " + (config ? config : "?") + "; kernel " + (core ? core : "?");
}

}  // namespace fedguard::backend::cpu
