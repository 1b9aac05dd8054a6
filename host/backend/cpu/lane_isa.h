// Which vector instruction set the CPU kernels use: the best the processor has, capped by
// FEDGUARD_CPU_LANES=avx2 or sse2 so that the tests run every kernel on one machine
// (tests/CMakeLists.txt) and a benchmark can time the AVX2 kernels on an AVX-512 processor.
#pragma once

#include <cstdlib>
#include <cstring>

namespace fedguard::backend::cpu {

enum class LaneIsa { kAvx512, kAvx2, kSse2 };

inline LaneIsa lane_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  static const LaneIsa isa = [] {
    LaneIsa best = __builtin_cpu_supports("avx512f") ? LaneIsa::kAvx512
                   : __builtin_cpu_supports("avx2")  ? LaneIsa::kAvx2
                                                     : LaneIsa::kSse2;
    if (const char* cap = std::getenv("FEDGUARD_CPU_LANES")) {
      if (std::strcmp(cap, "avx2") == 0 && best == LaneIsa::kAvx512) best = LaneIsa::kAvx2;
      if (std::strcmp(cap, "sse2") == 0) best = LaneIsa::kSse2;
    }
    return best;
  }();
  return isa;
#else
  return LaneIsa::kSse2;
#endif
}

}  // namespace fedguard::backend::cpu
