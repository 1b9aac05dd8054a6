// FEDGUARD_BLAS=blis: Debian's BLIS (libblis-dev). BLIS picks its kernel set ("arch": zen3,
// haswell, skx, ...) at run time from the processor, or from BLIS_ARCH_TYPE when set;
// OPENBLAS_CORETYPE does not apply.
#include <blis.h>
#include <cblas.h>

#include "backend/cpu/blas_library.h"

#ifndef FEDGUARD_BLAS_NAME
#define FEDGUARD_BLAS_NAME "BLIS"
#endif

namespace fedguard::backend::cpu {

void set_blas_threads(int threads) { bli_thread_set_num_threads(threads); }

std::string blas_description() {
  std::string text = std::string("BLIS ") + bli_info_get_version_str() + ", kernel " +
                     bli_arch_string(bli_arch_query_id());
  if (bli_info_get_enable_openmp()) {
    text += ", OpenMP";
  } else if (bli_info_get_enable_pthreads()) {
    text += ", pthreads";
  } else {
    text += ", sequential";
  }
  return text +
         detail::build_and_files(FEDGUARD_BLAS_NAME, reinterpret_cast<const void*>(&cblas_ssyrk));
}

// BLIS picks its kernels by instruction set, not by processor model: nothing to advise.
BlasKernelAdvice blas_kernel_advice() { return {}; }

}  // namespace fedguard::backend::cpu
