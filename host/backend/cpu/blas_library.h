// The BLAS library behind the CPU backend, chosen at build time by FEDGUARD_BLAS
// (cmake/FedguardDependencies.cmake; issue 19). Everything library-specific beyond the standard
// CBLAS / LAPACKE calls lives behind this header: one source per library family
// (blas_openblas.cc for Debian's OpenBLAS and scipy-openblas32, blas_blis.cc, blas_mkl.cc), of
// which CMake compiles the one selected; blas_library.cc holds what they share.
#pragma once

#include <string>

namespace fedguard::backend::cpu {

/// Threads each BLAS call may use, for the whole process: none of the libraries has a per-call
/// count that all versions share. The CPU backend sets 1 (its own OpenMP workers each call BLAS
/// on their own column tiles; two thread pools on the same cores spin against each other); the
/// benchmark's BLAS floor sets every core.
void set_blas_threads(int threads);

/// "<library> <version>, kernel <what it runs on this CPU>, <threading>, build: <FEDGUARD_BLAS
/// build> (<library file>)[, LAPACK: <file>]", e.g. "OpenBLAS 0.3.21, kernel Zen, pthreads,
/// build: Debian OpenBLAS (/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0)".
/// `fedguard info` prints it and every benchmark record keeps it.
std::string blas_description();

/// A BLAS kernel below what the processor runs: OpenBLAS's DYNAMIC_ARCH builds pick their kernel
/// from the CPUID family and model, and fall back to the SSE3 "Prescott" kernels for a model they
/// do not know (Debian's 0.3.21 on Intel's Emerald Rapids, family 6 model 207, although the core
/// has AVX-512): pass 1's SSYRK above 512 rows and NNM's mixing GEMM then run 3-5x slower
/// (bench/results/detection_cost_2026-12-06.md). `better` is the OPENBLAS_CORETYPE value whose
/// kernels the processor runs ("SkylakeX" with AVX-512 F/BW/DQ/VL/CD, "Haswell" with AVX2 and
/// FMA); empty where the kernel is not below the processor's, where OPENBLAS_CORETYPE names one
/// already (the user's choice), and for BLIS and MKL (they pick by instruction set).
struct BlasKernelAdvice {
  std::string running;  ///< the kernel the BLAS runs (its own name for it)
  std::string better;   ///< the OPENBLAS_CORETYPE value to run instead, or empty
  std::string cpu;      ///< "family F model M" and the vector extension that makes `better` run
};
BlasKernelAdvice blas_kernel_advice();

/// OpenBLAS's kernel names that have no AVX2 kernels (case-insensitive), and the CPU's vector
/// extensions: the rule behind blas_kernel_advice, apart so that tests can give it any processor.
/// Returns the OPENBLAS_CORETYPE value to run instead, or "".
std::string better_openblas_kernel(const std::string& running, bool avx512_skylake_set,
                                   bool avx2_fma);

namespace detail {
/// ", build: <build_name> (<file>)[, LAPACK: <file>]": the file that holds `blas_symbol`
/// (dladdr, resolved), and the file LAPACK's dsyevr_ (what LAPACKE_dsyevr ends in) resolves to
/// in the process's default symbol scope where that is another file. The common tail of every
/// library's blas_description().
std::string build_and_files(const char* build_name, const void* blas_symbol);
}  // namespace detail

}  // namespace fedguard::backend::cpu
