// Which BLAS the CPU backend was built against and which kernel it runs (issue 19: every
// benchmark record names both). OpenBLAS picks its kernel at load time from the processor, or
// from OPENBLAS_CORETYPE when set.
#pragma once

#include <string>

namespace fedguard::backend::cpu {

/// "<library>: <build configuration>; kernel <core name>", e.g.
/// "Debian OpenBLAS: OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64; kernel Zen".
std::string blas_description();

}  // namespace fedguard::backend::cpu
