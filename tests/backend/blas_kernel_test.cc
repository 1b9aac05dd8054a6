// The BLAS kernel check (backend/cpu/blas_library.h): which OpenBLAS kernels are below a
// processor, and that a kernel named by OPENBLAS_CORETYPE is the user's choice.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "backend/cpu/blas_library.h"

namespace fedguard::test {
namespace {

using backend::cpu::better_openblas_kernel;

TEST(BlasKernel, SseAndAvxKernelsOnAnAvx2OrAvx512ProcessorAreRaised) {
  for (const char* weak :
       {"Prescott", "prescott", "PRESCOTT", "Core2", "Nehalem", "Atom", "Sandybridge", "Barcelona",
        "Bulldozer", "Piledriver", "Steamroller", "Opteron_SSE3", "Unknown"}) {
    EXPECT_EQ(better_openblas_kernel(weak, true, true), "SkylakeX") << weak;
    EXPECT_EQ(better_openblas_kernel(weak, false, true), "Haswell") << weak;
    // A processor without AVX2 and FMA runs nothing better.
    EXPECT_EQ(better_openblas_kernel(weak, false, false), "") << weak;
  }
}

TEST(BlasKernel, Avx2KernelsAndNamesItDoesNotKnowAreLeftAlone) {
  // OpenBLAS's own choice on processors it knows: Zen on Zen 3, Cooperlake on Zen 4 (0.3.21),
  // Haswell where it falls back from AVX-512; names of other architectures or later versions.
  for (const char* good : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
                           "Excavator", "NeoverseN1", "", "?"}) {
    EXPECT_EQ(better_openblas_kernel(good, true, true), "") << good;
    EXPECT_EQ(better_openblas_kernel(good, false, true), "") << good;
  }
}

TEST(BlasKernel, AKernelNamedInTheEnvironmentIsTheUsersChoice) {
  const char* before = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = before ? before : "";
  setenv("OPENBLAS_CORETYPE", "Prescott", 1);
  EXPECT_EQ(backend::cpu::blas_kernel_advice().better, "");
  if (before) {
    setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  } else {
    unsetenv("OPENBLAS_CORETYPE");
  }
}

}  // namespace
}  // namespace fedguard::test
