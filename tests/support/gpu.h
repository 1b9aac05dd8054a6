// GPU tests: skip where no CUDA device is usable, or fail when the run demands one.
//
// FEDGUARD_REQUIRE_GPU=1 (set by the GPU kit's run.sh, bench/gpu/kit_run.sh) turns the skip into
// a failure, so that a run on a machine whose device is missing, or whose driver is too old for
// the runtime (cudaGetDeviceCount then fails and cuda_device_count() is 0), cannot pass having
// run nothing: ctest counts a skip as a pass.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/devices.h"

namespace fedguard::test {

/// True when FEDGUARD_REQUIRE_GPU is set to anything but "" or "0".
inline bool gpu_required() {
  const char* v = std::getenv("FEDGUARD_REQUIRE_GPU");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace fedguard::test

/// First statement of every GPU test body.
#define FEDGUARD_REQUIRE_GPU()                                                          \
  do {                                                                                  \
    if (::fedguard::backend::cuda_device_count() == 0) {                                \
      const std::string why_ = ::fedguard::backend::cuda_status();                      \
      if (::fedguard::test::gpu_required())                                             \
        FAIL() << "FEDGUARD_REQUIRE_GPU is set but no CUDA device is usable: " << why_; \
      GTEST_SKIP() << "no CUDA device usable: " << why_;                                \
    }                                                                                   \
  } while (0)
