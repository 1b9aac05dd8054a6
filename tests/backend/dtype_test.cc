// float16 / bfloat16 conversions: exhaustive against the definition.
#include "fedguard/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "fedguard/error.h"

namespace fedguard {
namespace {

double half_by_definition(std::uint16_t h) {
  const int sign = h >> 15 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e == 31) return m ? std::nan("") : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

TEST(DType, HalfToFloatAllPatterns) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const double want = half_by_definition(static_cast<std::uint16_t>(h));
    const float got = half_to_float(static_cast<std::uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << h;
      EXPECT_EQ(std::signbit(got), (h >> 15) != 0) << h;
    }
  }
}

// The bulk conversion (F16C eight at a time where the processor has it, the table for the
// rest) against the definition, every pattern, at offsets and lengths that leave every tail.
TEST(DType, BulkHalfConversionAllPatterns) {
  std::vector<std::uint16_t> halves(65536 + 16);
  for (std::size_t i = 0; i < halves.size(); ++i) halves[i] = static_cast<std::uint16_t>(i);
  for (const std::size_t offset : {std::size_t{0}, std::size_t{3}}) {
    for (const std::size_t count : {std::size_t{65536}, std::size_t{65533}, std::size_t{7}}) {
      std::vector<float> out(count);
      convert_to_float(DType::kFloat16, halves.data() + offset, out.data(), count);
      for (std::size_t i = 0; i < count; ++i) {
        const auto h = halves[offset + i];
        const double want = half_by_definition(h);
        if (std::isnan(want)) {
          EXPECT_TRUE(std::isnan(out[i])) << h;
        } else {
          EXPECT_EQ(static_cast<double>(out[i]), want) << h;
          EXPECT_EQ(std::signbit(out[i]), (h >> 15) != 0) << h;
        }
      }
    }
  }
}

TEST(DType, FloatToHalfRoundsToNearestEven) {
  // Every half value round-trips, and midpoints between neighbours go to the even one.
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const float f = half_to_float(static_cast<std::uint16_t>(h));
    EXPECT_EQ(float_to_half(f), h);
    EXPECT_EQ(float_to_half(-f), h | 0x8000u);
    if (h + 1 < 0x7c00) {
      const double mid =
          (static_cast<double>(f) + half_to_float(static_cast<std::uint16_t>(h + 1))) / 2;
      EXPECT_EQ(float_to_half(static_cast<float>(mid)), (h & 1) ? h + 1 : h) << h;
    }
  }
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // rounds to Inf
  EXPECT_EQ(float_to_half(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half(INFINITY), 0x7c00);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
}

TEST(DType, BFloat16) {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float f = bfloat16_to_float(static_cast<std::uint16_t>(b));
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    EXPECT_EQ(bits, b << 16);
    if (!std::isnan(f)) {
      EXPECT_EQ(float_to_bfloat16(f), b);
    }
  }
  EXPECT_EQ(float_to_bfloat16(1.0f + 1.0f / 256), 0x3f80);  // tie to even
  EXPECT_EQ(float_to_bfloat16(1.0f + 3.0f / 256), 0x3f82);
}

TEST(DType, Names) {
  EXPECT_EQ(parse_dtype("bf16"), DType::kBFloat16);
  EXPECT_EQ(parse_dtype("float16"), DType::kFloat16);
  EXPECT_THROW(parse_dtype("int8"), Error);
}

}  // namespace
}  // namespace fedguard
