// GCC 12 warns falsely inside the intrinsics headers (bug 105593); silence it for them only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/ops.h"

namespace joule::cpu {

// head_dim is a multiple of 16 (checked by best_attend); one zmm holds 16 lanes of a head.
void attend_head_avx512(const AttendArgs& a) {
  const int hd = a.head_dim, nv = hd / 16;
  constexpr int kMaxVecs = 16;  // head_dim <= 256
  __m512 q[kMaxVecs];
  for (int c = 0; c < nv; ++c) {
    // Round the query to f16 and back, as llama.cpp converts it for the f16 key cache.
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(a.q + 16 * c), _MM_FROUND_TO_NEAREST_INT);
    q[c] = _mm512_cvtph_ps(h);
  }
  for (int j = 0; j < a.n_keys; ++j) {
    const f16_bits* kj = a.k + size_t(j) * a.kv_stride;
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < nv; ++c) {
      const __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kj + 16 * c)));
      acc = _mm512_fmadd_ps(q[c], k, acc);
    }
    a.scores[j] = _mm512_reduce_add_ps(acc) * a.scale;
  }
  softmax(a.scores, a.n_keys);
  __m512 out[kMaxVecs];
  for (int c = 0; c < nv; ++c) out[c] = _mm512_setzero_ps();
  for (int j = 0; j < a.n_keys; ++j) {
    const f16_bits* vj = a.v + size_t(j) * a.kv_stride;
    // Probabilities rounded to f16, as llama.cpp's f16 value cache product does.
    const float p16 = _cvtsh_ss(_cvtss_sh(a.scores[j], _MM_FROUND_TO_NEAREST_INT));
    const __m512 p = _mm512_set1_ps(p16);
    for (int c = 0; c < nv; ++c) {
      const __m512 v = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(vj + 16 * c)));
      out[c] = _mm512_fmadd_ps(p, v, out[c]);
    }
  }
  for (int c = 0; c < nv; ++c) _mm512_storeu_ps(a.out + 16 * c, out[c]);
}

}  // namespace joule::cpu
