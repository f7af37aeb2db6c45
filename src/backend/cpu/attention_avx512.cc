// GCC 12 warns falsely inside the intrinsics headers (bug 105593); silence it for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/simd_avx512.h"

namespace joule::cpu {
namespace {

constexpr int kMaxVecs = 16;  // head_dim <= 256

__m512 load_f16x16(const f16_bits* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// scores[j] = scale * q . k_j. Four keys per step share one transpose-and-add reduction (a
// reduction per key cost as much as the products at head_dim 64).
void scores_qk(const AttendArgs& a, const __m512 (&q)[kMaxVecs], int nv) {
  const __m128 scale = _mm_set1_ps(a.scale);
  int j = 0;
  for (; j + 4 <= a.n_keys; j += 4) {
    const f16_bits* k0 = a.k + size_t(j) * a.kv_stride;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
    for (int c = 0; c < nv; ++c)
      for (int i = 0; i < 4; ++i)
        acc[i] = _mm512_fmadd_ps(q[c], load_f16x16(k0 + i * a.kv_stride + 16 * c), acc[i]);
    _mm_storeu_ps(a.scores + j, _mm_mul_ps(hsum4(acc[0], acc[1], acc[2], acc[3]), scale));
  }
  for (; j < a.n_keys; ++j) {
    const f16_bits* kj = a.k + size_t(j) * a.kv_stride;
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < nv; ++c) acc = _mm512_fmadd_ps(q[c], load_f16x16(kj + 16 * c), acc);
    a.scores[j] = _mm512_reduce_add_ps(acc) * a.scale;
  }
}

// Softmax of scores[0, n) in place, each probability rounded to f16 as llama.cpp's f16 value
// product does. Tails use masked loads and stores; masked-off lanes hold -inf (max) or 0 (sum).
void softmax_f16_probs(float* s, int n) {
  auto mask = [n](int i) {
    return n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
  };
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int i = 0; i < n; i += 16) mx = _mm512_mask_max_ps(mx, mask(i), mx, _mm512_maskz_loadu_ps(mask(i), s + i));
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask(i), s + i), vmax));
    sum = _mm512_mask_add_ps(sum, mask(i), sum, e);
    _mm512_mask_storeu_ps(s + i, mask(i), e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
  for (int i = 0; i < n; i += 16) {
    const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask(i), s + i), inv);
    const __m512 p16 = _mm512_cvtph_ps(_mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT));
    _mm512_mask_storeu_ps(s + i, mask(i), p16);
  }
}

}  // namespace

// head_dim is a multiple of 16 (checked by best_attend); one zmm holds 16 lanes of a head.
void attend_head_avx512(const AttendArgs& a) {
  const int nv = a.head_dim / 16;
  __m512 q[kMaxVecs];
  for (int c = 0; c < nv; ++c) {
    // Round the query to f16 and back, as llama.cpp converts it for the f16 key cache.
    q[c] = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(a.q + 16 * c), _MM_FROUND_TO_NEAREST_INT));
  }
  scores_qk(a, q, nv);
  softmax_f16_probs(a.scores, a.n_keys);
  __m512 out[kMaxVecs];
  for (int c = 0; c < nv; ++c) out[c] = _mm512_setzero_ps();
  for (int j = 0; j < a.n_keys; ++j) {
    const f16_bits* vj = a.v + size_t(j) * a.kv_stride;
    const __m512 p = _mm512_set1_ps(a.scores[j]);
    for (int c = 0; c < nv; ++c) out[c] = _mm512_fmadd_ps(p, load_f16x16(vj + 16 * c), out[c]);
  }
  for (int c = 0; c < nv; ++c) _mm512_storeu_ps(a.out + 16 * c, out[c]);
}

}  // namespace joule::cpu
