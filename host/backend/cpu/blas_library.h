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

namespace detail {
/// ", build: <build_name> (<file>)[, LAPACK: <file>]": the file that holds `blas_symbol`
/// (dladdr, resolved), and the file LAPACK's dsyevr_ (what LAPACKE_dsyevr ends in) resolves to
/// in the process's default symbol scope where that is another file. The common tail of every
/// library's blas_description().
std::string build_and_files(const char* build_name, const void* blas_symbol);
}  // namespace detail

}  // namespace fedguard::backend::cpu
