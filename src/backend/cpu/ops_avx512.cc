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

// rope_apply's rotation 16 pairs at a time: per pair the same fma(x0, c, -(x1 * s)) (fmsub is
// that, exactly) and fma(x0, s, x1 * c), so the result is the scalar one bit for bit; scalar
// ops.cc is built for the baseline ISA, where each std::fma is a library call. Adjacent pairs are
// split into even and odd lanes and interleaved back.
void rope_apply_avx512(float* x, int n_heads, const float* cos_v, const float* sin_v, const RopeParams& p) {
  const int half = p.rope_dim / 2;
  const bool adjacent = p.pairs == RopePairs::kAdjacent;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
  auto first = [](int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); };
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<int64_t>(h) * p.head_dim;
    for (int i = 0; i < half; i += 16) {
      const int np = std::min(16, half - i);
      const __m512 c = _mm512_maskz_loadu_ps(first(np), cos_v + i), s = _mm512_maskz_loadu_ps(first(np), sin_v + i);
      __m512 x0, x1;
      const __mmask16 m0 = first(2 * np), m1 = first(std::max(0, 2 * np - 16));  // adjacent: floats 2i ..
      if (adjacent) {
        const __m512 a = _mm512_maskz_loadu_ps(m0, head + 2 * i), b = _mm512_maskz_loadu_ps(m1, head + 2 * i + 16);
        x0 = _mm512_permutex2var_ps(a, even, b);
        x1 = _mm512_permutex2var_ps(a, odd, b);
      } else {
        x0 = _mm512_maskz_loadu_ps(first(np), head + i);
        x1 = _mm512_maskz_loadu_ps(first(np), head + i + half);
      }
      const __m512 r0 = _mm512_fmsub_ps(x0, c, _mm512_mul_ps(x1, s));
      const __m512 r1 = _mm512_fmadd_ps(x0, s, _mm512_mul_ps(x1, c));
      if (adjacent) {
        _mm512_mask_storeu_ps(head + 2 * i, m0, _mm512_permutex2var_ps(r0, lo, r1));
        _mm512_mask_storeu_ps(head + 2 * i + 16, m1, _mm512_permutex2var_ps(r0, hi, r1));
      } else {
        _mm512_mask_storeu_ps(head + i, first(np), r0);
        _mm512_mask_storeu_ps(head + i + half, first(np), r1);
      }
    }
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
