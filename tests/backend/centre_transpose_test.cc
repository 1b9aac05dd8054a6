// Pass 1's step 3 (host/backend/cpu/centre_transpose.h) on every instruction set this processor
// has: the transposed tile, each row's largest |value| and its float64 projection on the centre
// equal to the generic kernel's bit for bit (the documented order of the sums), the projection
// within rounding of a float64 brute force, and nothing written outside the eight columns of t.
#include "backend/cpu/centre_transpose.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "support/random_round.h"

namespace fedguard::test {
namespace {

using backend::cpu::centre_transpose;
using backend::cpu::kCentreGroup;
using backend::cpu::LaneIsa;

std::vector<LaneIsa> available() {
  std::vector<LaneIsa> isas{LaneIsa::kSse2};
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2")) isas.push_back(LaneIsa::kAvx2);
  if (__builtin_cpu_supports("avx512f")) isas.push_back(LaneIsa::kAvx512);
#endif
  return isas;
}

struct Output {
  std::vector<float> t;
  double proj[kCentreGroup];
  float mx[kCentreGroup];
};

TEST(CentreTranspose, EveryInstructionSetGivesTheGenericBitsAndTheBruteForce) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const float sentinel = -12345.0f;
  std::size_t cases = 0;
  for (std::size_t w : {1u, 7u, 8u, 9u, 64u, 101u, 1000u}) {
    for (int mask_case = 0; mask_case < 3; ++mask_case) {
      const std::size_t ldt = kCentreGroup * 3;  // the group writes columns 8 .. 15 of each row
      const std::size_t col0 = kCentreGroup;
      // Rows of differing scales, one offset far from the centre; each row starts at its own
      // misalignment inside one buffer.
      std::vector<float> storage(kCentreGroup * (w + 8));
      const float* rows[kCentreGroup];
      std::uint8_t keep[kCentreGroup];
      for (std::size_t i = 0; i < kCentreGroup; ++i) {
        float* r = storage.data() + i * (w + 8) + i % 4;
        const float scale = std::ldexp(1.0f, static_cast<int>(i) - 4);
        for (std::size_t j = 0; j < w; ++j) r[j] = scale * g(rng) + (i == 5 ? 100.0f : 0.0f);
        rows[i] = r;
        keep[i] = mask_case == 0 ? 1 : mask_case == 1 ? (i % 3 != 1) : (i == 2);
      }
      std::vector<float> centre(w);
      std::vector<double> centre64(w);
      for (std::size_t j = 0; j < w; ++j) {
        centre[j] = 0.5f * g(rng);
        centre64[j] = centre[j];
      }
      std::vector<Output> outs;
      for (LaneIsa isa : available()) {
        Output o;
        o.t.assign(w * ldt, sentinel);
        centre_transpose(isa, rows, keep, centre.data(), centre64.data(), w, o.t.data() + col0, ldt,
                         o.proj, o.mx);
        outs.push_back(o);
      }
      const Output& ref = outs.front();  // the generic kernel
      for (std::size_t i = 0; i < kCentreGroup; ++i) {
        double proj = 0, mx = 0;
        for (std::size_t j = 0; j < w; ++j) {
          const double v = keep[i] ? static_cast<double>(rows[i][j]) - centre[j] : 0.0;
          // The tile holds the float32 difference: exact here or rounded once.
          ASSERT_EQ(ref.t[j * ldt + col0 + i], static_cast<float>(v))
              << "w " << w << " row " << i << " column " << j;
          proj += centre64[j] * static_cast<double>(static_cast<float>(v));
          mx = std::max(mx, std::fabs(v));
        }
        EXPECT_NEAR(ref.proj[i], proj, 1e-12 * (1 + std::fabs(proj)) * static_cast<double>(w))
            << "w " << w << " row " << i;
        EXPECT_EQ(ref.mx[i], static_cast<float>(mx)) << "w " << w << " row " << i;
      }
      for (std::size_t j = 0; j < w; ++j) {
        for (std::size_t c = 0; c < ldt; ++c) {
          if (c < col0 || c >= col0 + kCentreGroup) {
            ASSERT_EQ(ref.t[j * ldt + c], sentinel) << "wrote outside the group, w " << w;
          }
        }
      }
      for (std::size_t k = 1; k < outs.size(); ++k) {
        EXPECT_EQ(std::memcmp(outs[k].t.data(), ref.t.data(), ref.t.size() * sizeof(float)), 0)
            << "kernel " << k << " w " << w << " masks " << mask_case;
        EXPECT_EQ(std::memcmp(outs[k].proj, ref.proj, sizeof ref.proj), 0)
            << "kernel " << k << " w " << w << " masks " << mask_case;
        EXPECT_EQ(std::memcmp(outs[k].mx, ref.mx, sizeof ref.mx), 0)
            << "kernel " << k << " w " << w << " masks " << mask_case;
      }
      ++cases;
    }
  }
  EXPECT_EQ(cases, 21u) << "seed " << seed;
}

}  // namespace
}  // namespace fedguard::test
