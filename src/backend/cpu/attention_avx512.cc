// AVX-512 attention that rounds exactly as llama.cpp's CPU path does (non-flash attention with an
// f16 KV cache, as llama-cpp-python runs it), because the default Q4_1 model quantizes every
// matmul input to 8 bits: an attention output one ulp away moves some activations a whole
// quantization step, and top-1 agreement drops by several points. What is matched:
//   * scores q.k and outputs p.v: llama.cpp evaluates batches of >= 2 tokens with tinyBLAS
//     (llamafile sgemm: one FMA chain over 16-wide chunks, then _mm512_reduce_add_ps) and single
//     tokens with ggml_vec_dot_f16 (four FMA chains over 64-wide steps, combined (0+2)+(1+3),
//     then _mm512_reduce_add_ps); AttendArgs::single_token picks the order;
//   * _mm512_reduce_add_ps as GCC implements it: (hi256 + lo256), (hi128 + lo128),
//     lanes {0+2, 1+3}, then those two;
//   * softmax: exp as ggml_v_expf (simd_avx512.h) over 16-key chunks, each chunk's sum reduced
//     in float and accumulated in double, probabilities scaled by float(1 / sum) and rounded to
//     f16 (the kqv matmul converts them). Keys past n_keys are llama.cpp's masked cells: exact
//     zeros in every sum, so they are skipped.
// The decode order assumes llama.cpp's padded KV length is a multiple of 64 (it pads to 256).

#include "backend/cpu/intrinsics.h"

#include <cmath>

#include "backend/cpu/attention.h"
#include "backend/cpu/simd_avx512.h"

namespace joule::cpu {
namespace {

constexpr int kMaxVecs = 16;  // head_dim <= 256

__m512 load_f16x16(const f16_bits* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// _mm512_reduce_add_ps of four vectors at once, with GCC's grouping; lane i of the result is
// the sum of the i-th argument.
__m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // (hi256 + lo256) of a and b in one register, of c and d in another: 128-bit blocks
  // [a0+a2, a1+a3, b0+b2, b1+b3].
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xEE));
  // (hi128 + lo128): blocks [a, b, c, d].
  const __m512 t6 = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xDD));
  // lanes {0+2, 1+3}, then their sum, in lane 0 of each block.
  const __m512 t8 = _mm512_add_ps(t6, _mm512_permute_ps(t6, _MM_SHUFFLE(1, 0, 3, 2)));
  const __m512 r = _mm512_add_ps(t8, _mm512_permute_ps(t8, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), r));
}

// q.k in tinyBLAS order (one FMA chain), not yet reduced.
__m512 chain(const __m512 (&q)[kMaxVecs], const f16_bits* k, int nv) {
  __m512 acc = _mm512_setzero_ps();
  for (int c = 0; c < nv; ++c) acc = _mm512_fmadd_ps(load_f16x16(k + 16 * c), q[c], acc);
  return acc;
}

// q.k in ggml_vec_dot_f16 order, reduced: four chains over 64-wide steps, (0+2)+(1+3), reduce,
// then any dimensions past the last full 64 added in double.
float dot_vec_f16(const __m512 (&q)[kMaxVecs], const float* q16, const f16_bits* k, int hd) {
  const int np = hd & ~63;
  __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j) s[j] = _mm512_fmadd_ps(load_f16x16(k + i + 16 * j), q[i / 16 + j], s[j]);
  double sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3])));
  for (int i = np; i < hd; ++i) sum += static_cast<double>(_cvtsh_ss(k[i]) * q16[i]);
  return static_cast<float>(sum);
}

void scores_qk(const AttendArgs& a, const __m512 (&q)[kMaxVecs], const float* q16) {
  const int nv = a.head_dim / 16;
  if (a.single_token) {
    for (int j = 0; j < a.n_keys; ++j) a.scores[j] = dot_vec_f16(q, q16, a.key(j), a.head_dim) * a.scale;
    return;
  }
  const __m128 scale = _mm_set1_ps(a.scale);
  int j = 0;
  for (; j + 4 <= a.n_keys; j += 4) {
    const __m128 s = reduce4(chain(q, a.key(j), nv), chain(q, a.key(j + 1), nv), chain(q, a.key(j + 2), nv),
                             chain(q, a.key(j + 3), nv));
    _mm_storeu_ps(a.scores + j, _mm_mul_ps(s, scale));
  }
  for (; j < a.n_keys; ++j) a.scores[j] = _mm512_reduce_add_ps(chain(q, a.key(j), nv)) * a.scale;
}

__mmask16 first_lanes(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// Softmax of scores[0, n) in place as ggml_compute_forward_soft_max_f32 computes it, then each
// probability rounded to f16. Lanes past n act as masked cells (-inf, so exp gives 0).
void softmax_f16_probs(float* s, int n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int i = 0; i < n; i += 16)
    mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), first_lanes(n - i), s + i));
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  double sum = 0;
  for (int i = 0; i < n; i += 16) {
    const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), first_lanes(n - i), s + i);
    const __m512 e = exp_avx512(_mm512_sub_ps(x, vmax));
    sum += static_cast<double>(_mm512_reduce_add_ps(e));
    _mm512_mask_storeu_ps(s + i, first_lanes(n - i), e);
  }
  const __m512 inv = _mm512_set1_ps(static_cast<float>(1.0 / sum));
  for (int i = 0; i < n; i += 16) {
    const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(first_lanes(n - i), s + i), inv);
    _mm512_mask_storeu_ps(s + i, first_lanes(n - i), _mm512_cvtph_ps(_mm512_cvtps_ph(p, _MM_FROUND_TO_NEAREST_INT)));
  }
}

// Accumulates the 16-key chunks starting at key `first`, `step` keys apart, into 16 lane vectors
// (lane l takes key j0 + l of each chunk) over the 16 dimensions at d0: one tinyBLAS /
// ggml_vec_dot_f16 accumulator, held as 16 vectors across dimensions.
void lane_chains(const AttendArgs& a, int d0, int first, int step, __m512 (&lane)[16]) {
#pragma GCC unroll 16
  for (int l = 0; l < 16; ++l) lane[l] = _mm512_setzero_ps();
  for (int j0 = first; j0 < a.n_keys; j0 += step) {
    const f16_bits* v = a.v + d0;
    const size_t* rows = a.rows + j0;
    if (a.n_keys - j0 >= 16) {
#pragma GCC unroll 16
      for (int l = 0; l < 16; ++l)
        lane[l] = _mm512_fmadd_ps(load_f16x16(v + rows[l]), _mm512_set1_ps(a.scores[j0 + l]), lane[l]);
    } else {
      for (int l = 0; l < a.n_keys - j0; ++l)
        lane[l] = _mm512_fmadd_ps(load_f16x16(v + rows[l]), _mm512_set1_ps(a.scores[j0 + l]), lane[l]);
    }
  }
}

// _mm512_reduce_add_ps's grouping applied across 16 lane vectors.
__m512 reduce_lanes(__m512 (&x)[16]) {
#pragma GCC unroll 8
  for (int l = 0; l < 8; ++l) x[l] = _mm512_add_ps(x[l], x[l + 8]);  // hi256 + lo256
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) x[l] = _mm512_add_ps(x[l], x[l + 4]);  // hi128 + lo128
  return _mm512_add_ps(_mm512_add_ps(x[0], x[2]), _mm512_add_ps(x[1], x[3]));
}

// out[16 dims at d0] = sum over keys of p_j * v_j in llama.cpp's order: tinyBLAS has one chain
// over 16-key chunks; ggml_vec_dot_f16 four, over the 16-key quarters of each 64-key step,
// combined (0+2)+(1+3) lane by lane. Then the 16 lanes are reduced.
__m512 weighted_values(const AttendArgs& a, int d0) {
  __m512 x[16];
  if (!a.single_token) {
    lane_chains(a, d0, 0, 16, x);
    return reduce_lanes(x);
  }
  __m512 c0[16], c1[16], c2[16];
  lane_chains(a, d0, 0, 64, c0);
  lane_chains(a, d0, 16, 64, c1);
  lane_chains(a, d0, 32, 64, c2);
  lane_chains(a, d0, 48, 64, x);
#pragma GCC unroll 16
  for (int l = 0; l < 16; ++l) x[l] = _mm512_add_ps(_mm512_add_ps(c0[l], c2[l]), _mm512_add_ps(c1[l], x[l]));
  return reduce_lanes(x);
}

}  // namespace

// head_dim is a multiple of 16 (checked by best_attend); one zmm holds 16 lanes of a head.
void attend_head_avx512(const AttendArgs& a) {
  const int nv = a.head_dim / 16;
  __m512 q[kMaxVecs];
  alignas(64) float q16[kMaxVecs * 16];
  for (int c = 0; c < nv; ++c) {
    // The query rounded to f16, as llama.cpp converts it for the f16 key cache.
    q[c] = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(a.q + 16 * c), _MM_FROUND_TO_NEAREST_INT));
    _mm512_store_ps(q16 + 16 * c, q[c]);
  }
  scores_qk(a, q, q16);
  add_alibi(a);
  softmax_f16_probs(a.scores, a.n_keys);
  for (int c = 0; c < nv; ++c)
    _mm512_storeu_ps(a.out + 16 * c, weighted_values(a, 16 * c));
}

}  // namespace joule::cpu
