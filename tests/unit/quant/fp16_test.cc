#include "quant/fp16.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "core/cpu_features.h"

namespace joule {
namespace {

float f(uint32_t bits) { return bits_to_f32(bits); }

TEST(F16, KnownConversions) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);    // largest finite half
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);  // just below the rounding midpoint to inf
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);    // the midpoint rounds (to even) to inf
  EXPECT_EQ(f32_to_f16(1e10f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-1e10f), 0xfc00);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xfc00);
  const f16_bits nan = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
  EXPECT_NE(f32_to_f16(f(0x7f800001)) & 0x03ff, 0);  // a signalling nan stays a nan
}

TEST(F16, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa (0).
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between mantissas 1 and 2: goes to 2.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  // Just above the halfway point rounds up.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  // Rounding can carry into the exponent: 2 - 2^-12 -> 2.
  EXPECT_EQ(f32_to_f16(2.0f - std::ldexp(1.0f, -12)), 0x4000);
}

TEST(F16, Subnormals) {
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // halfway to 0: even
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // halfway between 1 and 2: even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25) * 1.001f), 0x0001);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1023.0f, -24)), 0x83ff);  // largest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(f32_to_f16(std::ldexp(2047.0f, -25)), 0x0400);   // rounds up into the normals
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(f(0x00000001)), 0x0000);  // f32 subnormal

  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x83ff), -std::ldexp(1023.0f, -24));
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));
}

TEST(F16, ToF32) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));
}

TEST(BF16, Conversions) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(f(0x7f7fffff)), 0x7f80);  // FLT_MAX rounds to inf
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(f(0x7f800001)), 0x7fc0);  // nan stays nan (quieted), not inf
  EXPECT_EQ(f32_to_bf16(f(0x00018000)), 0x0002);  // subnormal tie -> even
  EXPECT_EQ(f32_to_bf16(f(0x00008000)), 0x0000);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
}

// Against the F16C instructions (_cvtss_sh with round-to-nearest-even, _cvtsh_ss) when present.
__attribute__((target("f16c"))) uint16_t hw_to_f16(float x) {
  return static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) float hw_to_f32(uint16_t h) { return _cvtsh_ss(h); }

TEST(F16, MatchesF16cInstructions) {
  if (!cpu_features().f16c) GTEST_SKIP() << "no F16C";
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float a = f16_to_f32(static_cast<f16_bits>(h));
    const float b = hw_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << h;
    } else {
      EXPECT_EQ(f32_to_bits(a), f32_to_bits(b)) << h;
    }
  }
  // A stride through every exponent and mantissa pattern (finite values; nan payloads differ).
  for (uint64_t u = 0; u < (uint64_t{1} << 32); u += 65521) {
    const float x = f(static_cast<uint32_t>(u));
    if (std::isnan(x)) continue;
    ASSERT_EQ(f32_to_f16(x), hw_to_f16(x)) << std::hex << u;
  }
  // Every rounding boundary near the half grid: x = half value +- a little and exact midpoints.
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    const uint32_t base = f32_to_bits(f16_to_f32(static_cast<f16_bits>(h)));
    for (int32_t d : {-1, 1, 4095, 4096, 4097}) {
      const float x = f(base + static_cast<uint32_t>(d));
      if (std::isnan(x)) continue;
      ASSERT_EQ(f32_to_f16(x), hw_to_f16(x)) << std::hex << h << " " << d;
    }
  }
}

}  // namespace
}  // namespace joule
