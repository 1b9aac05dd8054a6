// FEDGUARD_BLAS=openblas (Debian) and scipy-openblas (PyPI scipy-openblas32, its prefixed names
// mapped by cmake/blas/scipy_openblas/cblas.h).
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

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

BlasKernelAdvice blas_kernel_advice() {
  BlasKernelAdvice advice;
  const char* core = openblas_get_corename();
  advice.running = core ? core : "";
#if defined(__x86_64__) && defined(__GNUC__)
  // The user's choice stands, even a slow one (and OpenBLAS's own name for an unknown value is
  // then "Prescott" as well).
  if (std::getenv("OPENBLAS_CORETYPE")) return advice;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512cd");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  advice.better = better_openblas_kernel(advice.running, avx512, avx2);
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!advice.better.empty() && __get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    // The display family and model, as OpenBLAS reads them (the extended fields count for
    // families 6 and 15).
    unsigned family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    if (family == 0xf) family += (eax >> 20) & 0xff;
    if (family == 6 || family >= 0xf) model += ((eax >> 16) & 0xf) << 4;
    char text[96];
    std::snprintf(text, sizeof text, "family %u model %u, %s", family, model,
                  avx512 ? "AVX-512" : "AVX2 and FMA");
    advice.cpu = text;
  }
#endif
  return advice;
}

}  // namespace fedguard::backend::cpu
