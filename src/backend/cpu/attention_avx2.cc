// AVX2 attention over the f16 cache, with the scalar path's roundings (query and probabilities
// to f16, f32 accumulation). It does not reproduce llama.cpp's summation order as the AVX-512
// path does (joule's AVX2 matmuls do not either; docs/parity.md), but its order depends only on
// the head's own data, so a query's result is the same whatever else is in the batch.
#include "backend/cpu/intrinsics.h"

#include <cstring>

#include "backend/cpu/attention.h"
#include "backend/cpu/ops.h"

namespace joule::cpu {
namespace {

constexpr int kMaxVecs = 32;  // head_dim <= 256

__m256 load_f16x8(const f16_bits* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }

// x rounded to f16 and back, 8 lanes.
__m256 round_f16(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

void attend_one(const AttendArgs& a) {
  const int nv = a.head_dim / 8;
  __m256 q[kMaxVecs];
  for (int i = 0; i < nv; ++i) q[i] = round_f16(_mm256_loadu_ps(a.q + 8 * i));
  // Scores: one FMA chain per key over its 8-wide chunks, then a horizontal sum; four keys at a
  // time for throughput, each key's arithmetic the same as a lone key's.
  int j = 0;
  for (; j + 4 <= a.n_keys; j += 4) {
    const f16_bits* kr[4] = {a.key(j), a.key(j + 1), a.key(j + 2), a.key(j + 3)};
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < nv; ++i)
      for (int r = 0; r < 4; ++r) s[r] = _mm256_fmadd_ps(q[i], load_f16x8(kr[r] + 8 * i), s[r]);
    for (int r = 0; r < 4; ++r) a.scores[j + r] = hsum(s[r]) * a.scale;
  }
  for (; j < a.n_keys; ++j) {
    const f16_bits* kj = a.key(j);
    __m256 s = _mm256_setzero_ps();
    for (int i = 0; i < nv; ++i) s = _mm256_fmadd_ps(q[i], load_f16x8(kj + 8 * i), s);
    a.scores[j] = hsum(s) * a.scale;
  }
  add_alibi(a);
  softmax(a.scores, a.n_keys);
  // Outputs: each element sums its keys in order, as the scalar path does.
  __m256 o[kMaxVecs];
  for (int i = 0; i < nv; ++i) o[i] = _mm256_setzero_ps();
  for (j = 0; j < a.n_keys; ++j) {
    const f16_bits* vj = a.value(j);
    const __m256 p = round_f16(_mm256_set1_ps(a.scores[j]));
    for (int i = 0; i < nv; ++i) o[i] = _mm256_fmadd_ps(p, load_f16x8(vj + 8 * i), o[i]);
  }
  for (int i = 0; i < nv; ++i) _mm256_storeu_ps(a.out + 8 * i, o[i]);
}

}  // namespace

void attend_head_avx2(const AttendArgs& a) {
  for (int h = 0; h < a.n_heads; ++h) attend_one(a.heads(h, 1));
}

}  // namespace joule::cpu
