// FEDGUARD_BLAS=mkl: Intel oneMKL from PyPI (mkl-devel), LP64, GNU OpenMP threading layer
// (cmake/FedguardDependencies.cmake). MKL loads its processor-specific code on the first call
// that needs it, as a library of its own: libmkl_def (generic), libmkl_mc3, libmkl_avx2,
// libmkl_avx512, libmkl_avx10. On non-Intel processors it takes libmkl_def whatever the
// instruction set (MKL_ENABLE_INSTRUCTIONS does not change that; measured on the AMD EPYC VM,
// bench/results/blas_2026-12-04.md), so the description names the library loaded, not the
// processor's instruction set.
#include <cblas.h>
#include <link.h>
#include <mkl_service.h>

#include <cstring>

#include "backend/cpu/blas_library.h"

#ifndef FEDGUARD_BLAS_NAME
#define FEDGUARD_BLAS_NAME "MKL"
#endif

namespace fedguard::backend::cpu {
namespace {

// "def", "avx2", ... from the loaded libmkl_<kernel>.so.N (not libmkl_vml_*, the vector maths).
int find_kernel(dl_phdr_info* info, std::size_t, void* out) {
  static const char* const kernels[] = {"def", "mc3", "avx", "avx2", "avx512", "avx10"};
  const char* base = std::strrchr(info->dlpi_name, '/');
  base = base ? base + 1 : info->dlpi_name;
  for (const char* k : kernels) {
    const std::string name = std::string("libmkl_") + k + ".so";
    if (std::strncmp(base, name.c_str(), name.size()) == 0) {
      *static_cast<std::string*>(out) = std::string(k) + " (" + base + ")";
      return 1;
    }
  }
  return 0;
}

std::string version_text() {
  char text[256] = {};
  mkl_get_version_string(text, static_cast<int>(sizeof text));
  // "Intel(R) oneAPI Math Kernel Library Version 2026.2-Product Build 20260915 for ...":
  // the number after "Version ", up to the dash.
  const char* at = std::strstr(text, "Version ");
  if (at == nullptr) return "?";
  std::string version(at + 8);
  return version.substr(0, version.find_first_of("- "));
}

}  // namespace

void set_blas_threads(int threads) { mkl_set_num_threads(threads); }

std::string blas_description() {
  // A 1 x 1 product makes MKL load its kernel library if nothing has yet.
  float one = 1.0f, out = 0.0f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &out,
              1);
  std::string kernel = "?";
  dl_iterate_phdr(find_kernel, &kernel);
  std::string text = "MKL " + version_text() + ", kernel " + kernel;
  // MKL_CBWR_AUTO (2) is all it answers on a processor it does not know.
  const int branch = mkl_cbwr_get_auto_branch();
  switch (branch) {
    case MKL_CBWR_AVX2:
      text += ", CNR branch AVX2";
      break;
    case MKL_CBWR_AVX512:
      text += ", CNR branch AVX512";
      break;
    case MKL_CBWR_AVX512_E1:
      text += ", CNR branch AVX512_E1";
      break;
    case MKL_CBWR_AVX10:
      text += ", CNR branch AVX10";
      break;
    case MKL_CBWR_SSE4_2:
      text += ", CNR branch SSE4_2";
      break;
    default:
      break;
  }
  // The threading layer is fixed at link time (MKL_THREADING=gnu_thread in CMake).
  text += ", GNU OpenMP";
  return text +
         detail::build_and_files(FEDGUARD_BLAS_NAME, reinterpret_cast<const void*>(&cblas_ssyrk));
}

// MKL picks its kernels by instruction set, not by processor model: nothing to advise.
BlasKernelAdvice blas_kernel_advice() { return {}; }

}  // namespace fedguard::backend::cpu
