// The command line runs the BLAS kernels the processor has: where OpenBLAS picked kernels below
// them for a processor model it does not know (backend/cpu/blas_library.h: BlasKernelAdvice),
// `fedguard` starts itself again with OPENBLAS_CORETYPE naming the right ones. OpenBLAS reads the
// variable once, when the library loads, so nothing short of a new process image can change it.
#pragma once

namespace fedguard::cli {

/// Replaces the process image (execv of the file it was started from, with the same arguments)
/// when the BLAS runs kernels below the processor's and neither OPENBLAS_CORETYPE nor
/// FEDGUARD_KEEP_BLAS_KERNEL=1 is set; sets FEDGUARD_BLAS_KERNEL_RAISED_FROM to the kernel
/// OpenBLAS had picked, for `fedguard info`. Returns (and changes nothing) otherwise, and when
/// the exec fails.
void run_with_the_processors_blas_kernel(char** argv);

}  // namespace fedguard::cli
