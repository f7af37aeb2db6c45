#include "backend/cpu/intrinsics.h"

#include <algorithm>

#include "backend/cpu/ops.h"
#include "backend/cpu/simd_avx512.h"

namespace joule::cpu {

// silu(g) * u = g / (1 + e^-g) * u, 16 values per step; the tail with masked loads and stores.
void silu_mul_avx512(float* gate, const float* up, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_setzero_ps(), g));
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
  }
}

LogSumExp log_sum_exp_avx512(const float* x, int64_t n) {
  auto mask = [n](int64_t i) { return n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1); };
  __m512 mv = _mm512_set1_ps(-INFINITY);
  for (int64_t i = 0; i < n; i += 16) mv = _mm512_mask_max_ps(mv, mask(i), mv, _mm512_maskz_loadu_ps(mask(i), x + i));
  LogSumExp r;
  r.max = _mm512_reduce_max_ps(mv);
  const __m512 m = _mm512_set1_ps(r.max);
  for (int64_t i = 0; i < n; i += 16)  // the first lane equal to the maximum
    if (const __mmask16 eq = _mm512_mask_cmp_ps_mask(mask(i), _mm512_maskz_loadu_ps(mask(i), x + i), m, _CMP_EQ_OQ)) {
      r.argmax = i + __builtin_ctz(eq);
      break;
    }
  double sum = 0;
  constexpr int64_t kChunk = 1024;  // float partial sums stay short: 64 terms per lane
  for (int64_t c = 0; c < n; c += kChunk) {
    __m512 s = _mm512_setzero_ps();
    for (int64_t i = c; i < std::min(n, c + kChunk); i += 16)
      s = _mm512_add_ps(s, _mm512_maskz_mov_ps(mask(i), exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask(i), x + i), m))));
    sum += _mm512_reduce_add_ps(s);
  }
  r.lse = r.max + std::log(sum);
  return r;
}

}  // namespace joule::cpu
