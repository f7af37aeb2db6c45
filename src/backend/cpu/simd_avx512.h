// Small AVX-512 helpers shared by the AVX-512 translation units only: include it after
// backend/cpu/intrinsics.h in a file compiled with JOULE_AVX512_FLAGS. Everything here has
// internal linkage (see kernels_internal.h for why).
#pragma once

#include <cmath>

namespace joule::cpu {
namespace {

// Horizontal sums of four vectors: lane i of the result is the sum of the i-th argument.
// Transpose-and-add costs ~13 instructions for four sums instead of ~8 per vector.
inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  const __m512 abcd =
      _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

// The same for int32 lanes (exact; the permutes are those of hsum4).
inline __m128i hsum4_epi32(__m512i a, __m512i b, __m512i c, __m512i d) {
  const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
  const __m512 abf = _mm512_castsi512_ps(ab), cdf = _mm512_castsi512_ps(cd);
  const __m512i abcd = _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(abf, cdf, 0x44)),
                                        _mm512_castps_si512(_mm512_shuffle_ps(abf, cdf, 0xEE)));
  const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64(abcd, 1));
  return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

// exp(x) for 16 floats with the arithmetic of ggml's ggml_v_expf (AVX-512), so softmax and SiLU
// round exactly as llama.cpp's do: n = round(x / ln2) by the 1.5 * 2^23 shift, b = x - n ln2 in
// two FMAs, a degree-5 polynomial in b, then 2^n by vscalefps; |n| > 192 saturates to 0 or inf.
// Within 2 ulp of expf.
inline __m512 exp_avx512(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);
  const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 hi = _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b,
                                                    _mm512_set1_ps(0x1.573e2ep-5f)),
                                    u,
                                    _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b,
                                                    _mm512_set1_ps(0x1.fffdb6p-2f)));
  const __m512 j = _mm512_fmadd_ps(hi, u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b,
                                                            _mm512_set1_ps(1.0f)));
  const __m512 res = _mm512_scalef_ps(j, n);
  const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  if (big == 0) return res;
  const __m512 sat = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                          _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(big, res, sat);
}

}  // namespace
}  // namespace joule::cpu
