// Scalar IEEE half and bfloat16 conversions (portable; SIMD kernels use F16C/AVX512-BF16).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/types.h"

namespace joule {

inline float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float f16_to_f32(f16_bits h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // zero or subnormal: mant * 2^-24
    float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (mant << 13));  // inf / nan
  return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

// Round to nearest even, with overflow to inf and correct subnormals.
inline f16_bits f32_to_f16(float f) {
  const uint32_t x = f32_to_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t ax = x & 0x7fffffff;
  if (ax >= 0x7f800000u) return static_cast<f16_bits>(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return static_cast<f16_bits>(sign | 0x7c00);  // rounds to >= 65520: inf
  if (ax < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    // Adding 0.5 makes the FPU round the mantissa into place (round-to-nearest-even).
    const float v = bits_to_f32(ax) + 0.5f;
    return static_cast<f16_bits>(sign | (f32_to_bits(v) - 0x3f000000u));
  }
  const uint32_t mant_odd = (ax >> 13) & 1;
  uint32_t r = ax + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<f16_bits>(sign | (r >> 13));
}

inline float bf16_to_f32(bf16_bits h) { return bits_to_f32(uint32_t(h) << 16); }

inline bf16_bits f32_to_bf16(float f) {
  uint32_t x = f32_to_bits(f);
  if ((x & 0x7fffffff) > 0x7f800000u) return static_cast<bf16_bits>((x >> 16) | 0x40);  // quiet nan
  x += 0x7fff + ((x >> 16) & 1);  // round to nearest even
  return static_cast<bf16_bits>(x >> 16);
}

}  // namespace joule
