// Private to src/quant: helpers shared by the reference quantizers and the k-quant functions
// that quantize_row_ref / dequantize_row_ref dispatch to (reference_kquants.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/types.h"

namespace joule::ref {

// Round to nearest, ties to even, for |x| <= 2^22: adding 1.5 * 2^23 puts the integer part in
// the low mantissa bits (ggml's nearest_int).
inline int nearest_int(float x) {
  const float v = x + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, sizeof(i));
  return (i & 0x007fffff) - 0x00400000;
}

// The first value of largest magnitude, with its sign; its magnitude in *amax if given.
inline float signed_absmax(const float* x, int n, float* amax = nullptr) {
  float a = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (a < std::fabs(x[j])) {
      a = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax) *amax = a;
  return max;
}

// nb super-blocks of 256 values each way.
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nb);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb);
void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nb);
void dequantize_q2_k(const BlockQ2_K* x, float* y, int64_t nb);
void dequantize_q3_k(const BlockQ3_K* x, float* y, int64_t nb);
void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb);
void dequantize_q5_k(const BlockQ5_K* x, float* y, int64_t nb);
void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nb);
void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t nb);

}  // namespace joule::ref
