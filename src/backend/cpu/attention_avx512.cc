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

#include <algorithm>
#include <bit>
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

// The scores of a group of H query heads (q: each rounded to f16, q16 the same as floats), each
// key loaded and converted once for all of them; head h's scores at a.scores + h * n_keys.
//
// Batches of two or more tokens: tinyBLAS order, one FMA chain per key over 16-wide chunks, then
// _mm512_reduce_add_ps (four keys at a time through reduce4, the same grouping).
template <int H>
void scores_batched(const AttendArgs& a, const __m512 (&q)[H][kMaxVecs]) {
  const int nv = a.head_dim / 16, n = a.n_keys;
  const __m128 scale = _mm_set1_ps(a.scale);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    __m512 acc[4][H];
    for (int kk = 0; kk < 4; ++kk)
      for (int h = 0; h < H; ++h) acc[kk][h] = _mm512_setzero_ps();
    for (int c = 0; c < nv; ++c)
      for (int kk = 0; kk < 4; ++kk) {
        const __m512 k = load_f16x16(a.key(j + kk) + 16 * c);
        for (int h = 0; h < H; ++h) acc[kk][h] = _mm512_fmadd_ps(k, q[h][c], acc[kk][h]);
      }
    for (int h = 0; h < H; ++h)
      _mm_storeu_ps(a.scores + h * n + j, _mm_mul_ps(reduce4(acc[0][h], acc[1][h], acc[2][h], acc[3][h]), scale));
  }
  for (; j < n; ++j) {
    __m512 acc[H];
    for (int h = 0; h < H; ++h) acc[h] = _mm512_setzero_ps();
    for (int c = 0; c < nv; ++c) {
      const __m512 k = load_f16x16(a.key(j) + 16 * c);
      for (int h = 0; h < H; ++h) acc[h] = _mm512_fmadd_ps(k, q[h][c], acc[h]);
    }
    for (int h = 0; h < H; ++h) a.scores[h * n + j] = _mm512_reduce_add_ps(acc[h]) * a.scale;
  }
}

// A lone token: ggml_vec_dot_f16 order, four chains over 64-wide steps combined (0+2)+(1+3), then
// reduced (four keys at a time through reduce4, the same grouping), then any dimensions past the
// last full 64 added in double.
template <int H>
void scores_single(const AttendArgs& a, const __m512 (&q)[H][kMaxVecs], const float (&q16)[H][kMaxVecs * 16]) {
  const int hd = a.head_dim, np = hd & ~63, n = a.n_keys;
  auto chains = [&](int j, __m512 (&r)[H]) {
    __m512 s[H][4];
    for (int h = 0; h < H; ++h)
      for (int c = 0; c < 4; ++c) s[h][c] = _mm512_setzero_ps();
    const f16_bits* k = a.key(j);
    for (int i = 0; i < np; i += 64)
      for (int c = 0; c < 4; ++c) {
        const __m512 kc = load_f16x16(k + i + 16 * c);
        for (int h = 0; h < H; ++h) s[h][c] = _mm512_fmadd_ps(kc, q[h][i / 16 + c], s[h][c]);
      }
    for (int h = 0; h < H; ++h) r[h] = _mm512_add_ps(_mm512_add_ps(s[h][0], s[h][2]), _mm512_add_ps(s[h][1], s[h][3]));
  };
  auto store = [&](int j, int h, float reduced) {
    double sum = reduced;
    for (int i = np; i < hd; ++i) sum += static_cast<double>(_cvtsh_ss(a.key(j)[i]) * q16[h][i]);
    a.scores[h * n + j] = static_cast<float>(sum) * a.scale;
  };
  const __m128 scale = _mm_set1_ps(a.scale);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    __m512 r[4][H];
    for (int kk = 0; kk < 4; ++kk) chains(j + kk, r[kk]);
    for (int h = 0; h < H; ++h) {
      const __m128 red = reduce4(r[0][h], r[1][h], r[2][h], r[3][h]);
      if (np == hd) {  // nothing to add in double: float(double(x)) * scale is x * scale
        _mm_storeu_ps(a.scores + h * n + j, _mm_mul_ps(red, scale));
        continue;
      }
      alignas(16) float four[4];
      _mm_store_ps(four, red);
      for (int kk = 0; kk < 4; ++kk) store(j + kk, h, four[kk]);
    }
  }
  for (; j < n; ++j) {
    __m512 r[H];
    chains(j, r);
    for (int h = 0; h < H; ++h) store(j, h, _mm512_reduce_add_ps(r[h]));
  }
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

// _mm512_reduce_add_ps's grouping applied across 16 lane vectors.
__m512 reduce_lanes(__m512 (&x)[16]) {
#pragma GCC unroll 8
  for (int l = 0; l < 8; ++l) x[l] = _mm512_add_ps(x[l], x[l + 8]);  // hi256 + lo256
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) x[l] = _mm512_add_ps(x[l], x[l + 4]);  // hi128 + lo128
  return _mm512_add_ps(_mm512_add_ps(x[0], x[2]), _mm512_add_ps(x[1], x[3]));
}

// out[16 dims at d0] of each head = sum over keys of p_j * v_j in llama.cpp's order, held as 16
// lane vectors across dimensions (lane l takes keys l, l + 16, ...: one tinyBLAS /
// ggml_vec_dot_f16 accumulator each), then the lanes reduced. tinyBLAS has one chain over 16-key
// chunks; ggml_vec_dot_f16 four, over the 16-key quarters of each 64-key step, combined
// (0 + 2) + (1 + 3) lane by lane. A pass takes S lanes (of every chain) so that its accumulators
// stay in registers; each value row is loaded and converted once for the H heads.
template <int H, bool Single>
void weighted_values(const AttendArgs& a, int d0) {
  constexpr int chains = Single ? 4 : 1, step = 16 * chains;
  // Lanes per pass, 16 / S apart: a power of two with at most 24 accumulators.
  constexpr int S = int(std::bit_floor(unsigned(std::min(16, 24 / (chains * H)))));
  const int n = a.n_keys;
  __m512 x[H][16];
  for (int p = 0; p < 16 / S; ++p) {
    __m512 acc[chains][S][H];
    for (int c = 0; c < chains; ++c)
      for (int s = 0; s < S; ++s)
        for (int h = 0; h < H; ++h) acc[c][s][h] = _mm512_setzero_ps();
    auto add = [&](int c, int s, int j) {
      const __m512 v = load_f16x16(a.value(j) + d0);
      for (int h = 0; h < H; ++h) acc[c][s][h] = _mm512_fmadd_ps(v, _mm512_set1_ps(a.scores[h * n + j]), acc[c][s][h]);
    };
    // Key of chain c, lane p + s * 16 / S in the step at b.
    auto key = [&](int b, int c, int s) { return b + 16 * c + p + s * (16 / S); };
    int b = 0;
    for (; b + step <= n; b += step)
#pragma GCC unroll 4
      for (int c = 0; c < chains; ++c)
#pragma GCC unroll 16
        for (int s = 0; s < S; ++s) add(c, s, key(b, c, s));
#pragma GCC unroll 4
    for (int c = 0; c < chains; ++c)
#pragma GCC unroll 16
      for (int s = 0; s < S; ++s)
        if (key(b, c, s) < n) add(c, s, key(b, c, s));
    for (int s = 0; s < S; ++s)
      for (int h = 0; h < H; ++h)
        if constexpr (Single)
          x[h][p + s * (16 / S)] = _mm512_add_ps(_mm512_add_ps(acc[0][s][h], acc[2][s][h]),
                                                 _mm512_add_ps(acc[1][s][h], acc[3][s][h]));
        else
          x[h][p + s * (16 / S)] = acc[0][s][h];
  }
  for (int h = 0; h < H; ++h) _mm512_storeu_ps(a.out + h * a.head_dim + d0, reduce_lanes(x[h]));
}

template <int H>
void attend_group(const AttendArgs& a) {
  const int nv = a.head_dim / 16;
  __m512 q[H][kMaxVecs];
  alignas(64) float q16[H][kMaxVecs * 16];
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < nv; ++c) {
      // The query rounded to f16, as llama.cpp converts it for the f16 key cache.
      q[h][c] = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(a.q + h * a.head_dim + 16 * c), _MM_FROUND_TO_NEAREST_INT));
      _mm512_store_ps(q16[h] + 16 * c, q[h][c]);
    }
  if (a.single_token)
    scores_single<H>(a, q, q16);
  else
    scores_batched<H>(a, q);
  for (int h = 0; h < H; ++h) {
    add_alibi(a.heads(h, 1));
    softmax_f16_probs(a.scores + h * a.n_keys, a.n_keys);
  }
  for (int c = 0; c < nv; ++c) {
    if (a.single_token)
      weighted_values<H, true>(a, 16 * c);
    else
      weighted_values<H, false>(a, 16 * c);
  }
}

}  // namespace

// head_dim is a multiple of 16 (checked by best_attend); one zmm holds 16 lanes of a head. Groups
// of up to four heads share their key and value loads.
void attend_head_avx512(const AttendArgs& a) {
  for (int h0 = 0; h0 < a.n_heads; h0 += 4) {
    const int n = a.n_heads - h0 < 4 ? a.n_heads - h0 : 4;
    const AttendArgs g = a.heads(h0, n);
    switch (n) {
      case 1: attend_group<1>(g); break;
      case 2: attend_group<2>(g); break;
      case 3: attend_group<3>(g); break;
      default: attend_group<4>(g); break;
    }
  }
}

}  // namespace joule::cpu
