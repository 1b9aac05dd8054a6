// Which BLAS the CPU backend was built against and which kernel it runs (issue 19: every
// benchmark record names both). OpenBLAS picks its kernel at load time from the processor, or
// from OPENBLAS_CORETYPE when set.
#pragma once

#include <string>

namespace fedguard::backend::cpu {

/// "<name> <version>, kernel <core name>, <threading>, build: <FEDGUARD_BLAS build> (<library
/// file>)", e.g. "OpenBLAS 0.3.21, kernel Zen, pthreads, build: Debian OpenBLAS
/// (/usr/lib/x86_64-linux-gnu/ openblas-pthread/libopenblas.so.0)".
std::string blas_description();

}  // namespace fedguard::backend::cpu
