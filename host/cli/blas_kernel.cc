#include "cli/blas_kernel.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "backend/cpu/blas_library.h"

namespace fedguard::cli {

void run_with_the_processors_blas_kernel(char** argv) {
  const char* keep = std::getenv("FEDGUARD_KEEP_BLAS_KERNEL");
  if ((keep && std::strcmp(keep, "0") != 0) || std::getenv("OPENBLAS_CORETYPE")) return;
  const backend::cpu::BlasKernelAdvice advice = backend::cpu::blas_kernel_advice();
  if (advice.better.empty()) return;
  // Set before the exec, and cleared again if it fails, so that this process goes on as it was.
  if (setenv("OPENBLAS_CORETYPE", advice.better.c_str(), 1) != 0) return;
  setenv("FEDGUARD_BLAS_KERNEL_RAISED_FROM", advice.running.c_str(), 1);
  // The file this process was started from, as execve was given it (cwd has not changed yet):
  // under a loader such as valgrind /proc/self/exe is the loader, not fedguard.
  // getauxval returns every entry as an unsigned long; AT_EXECFN's is a pointer.
  // NOLINTNEXTLINE(performance-no-int-to-ptr)
  const char* self = reinterpret_cast<const char*>(getauxval(AT_EXECFN));
  execv(self && *self ? self : "/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("FEDGUARD_BLAS_KERNEL_RAISED_FROM");
}

}  // namespace fedguard::cli
