// Q4_1 x Q8_1 on AVX-512 from a layout packed once at load time, in ggml's float order.
//
// Why a packed layout: the default model is Q4_1 and is computed in llama.cpp's exact float order
// (kernels_avx512.cc, Q4_1Exact): per block one FMA per ggml lane, so a 512-bit register can only
// hold two rows' lanes at a time. From the file layout (20-byte blocks, rows apart) that costs
// inserts to gather the rows, a transpose of each row's scales and permutes to spread them, about
// 19 vector instructions per 4 rows x 32 values, which made decode compute-bound (~13 GB/s of
// weights per core) below the memory ceiling. Packed, it is 5 per 2 rows x 32 values, and each
// thread reads one contiguous stream.
//
// Packed layout: rows in groups of 16 (the last group padded with zero rows); a group holds its
// blocks in order, each block 320 bytes:
//   f16 d[16], f16 m[16]   (row r of the group at index r)
//   u8  qs[8][32]          (row pair p = rows 2p, 2p+1: bytes 8c + 4s + k = qs[4c + k] of row
//                          2p + s, c = 0..3, k = 0..3: the file's bytes, interleaved by 4)
// Broadcast to both halves of a zmm, shifted by 0 (low half) or 4 (high half) and masked, the 32
// bytes become 64 values: zmm lane 2l + s = values 4l..4l+3 of row 2p + s (ggml's lane l, l < 4
// from the low nibbles, l >= 4 from the high), so one vpdpbusd against the activation block laid
// out as dword l of [0, 0, 1, 1, ..., 7, 7] gives both rows' ggml lanes, and the per-row scales
// are one 64-bit broadcast {d_2p, d_2p+1} * d_a.

#include "backend/cpu/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels_internal.h"
#include "quant/types.h"

namespace joule::cpu {
namespace {

constexpr int kGroupRows = kPackRows;  // 16
constexpr int kPairs = kGroupRows / 2;
constexpr size_t kBlockBytes = 4 * kGroupRows + 32 * kPairs;  // 320
static_assert(kBlockBytes == 320 && sizeof(BlockQ4_1) == 20);

// Every tile prefetches the block this many ahead of the one it reads. The stream is contiguous,
// yet the hardware prefetchers alone leave bandwidth unused: on Llama-2-7B Q4_1 shapes 6 blocks
// (1920 bytes) ahead beat 0, 2, 4, 8 and 10 (+10-15 % decode tokens/s over none). Tiles of
// several tokens (serving's batched decode) need it too: the whole model streams from memory
// each step, and without it the loads stall the multiply-adds instead of overlapping them.
constexpr int kPrefetchBlocks = 6;

size_t group_bytes(int64_t n) { return static_cast<size_t>(n / 32) * kBlockBytes; }

// A prepared Q8_1 activation row of nb blocks: float d[nb16], float s[nb16] (nb16 = nb rounded up
// to 16, so the values start 64-byte aligned), then per block its 32 values as 64 bytes, dword l
// of the block at dwords 2l and 2l + 1.
size_t scale_floats(int64_t nb) { return static_cast<size_t>((nb + 15) / 16 * 16); }
size_t prep_bytes(int64_t n) { return 2 * 4 * scale_floats(n / 32) + 64 * static_cast<size_t>(n / 32); }

void prep(const uint8_t* a, int64_t n, uint8_t* dst) {
  const int64_t nb = n / 32;
  auto* d = reinterpret_cast<float*>(dst);
  float* s = d + scale_floats(nb);
  uint8_t* q = dst + 2 * 4 * scale_floats(nb);
  const __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = a + sizeof(BlockQ8_1) * b;  // {f16 d, s; s8 qs[32]}
    uint16_t h[2];
    std::memcpy(h, blk, 4);
    d[b] = _cvtsh_ss(h[0]);
    s[b] = _cvtsh_ss(h[1]);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 4));
    _mm512_store_si512(q + 64 * b, _mm512_permutexvar_epi32(twice, _mm512_castsi256_si512(v)));
  }
}

// Sums each row's ggml lanes as hsum_float_8 does, ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), for the
// 8 pair accumulators of one token (lane 2l + s = lane l of row 2p + s); row r of the group in
// lane r of the result.
__m512 reduce_pairs(const __m512 (&x)[kPairs]) {
  __m512 a[4], c[2], r[2];
  for (int i = 0; i < 4; ++i)  // chunks: [p (l0+l4, l1+l5), p (l2+l6, l3+l7), q ..., q ...]
    a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(x[2 * i], x[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  for (int i = 0; i < 2; ++i) {  // chunk k: pair 4i + k, [A (04+26), B (04+26), A (15+37), B ...]
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    r[i] = _mm512_add_ps(c[i], _mm512_permute_ps(c[i], _MM_SHUFFLE(1, 0, 3, 2)));
  }
  const __m512i rows = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
  return _mm512_permutex2var_ps(r[0], rows, r[1]);
}

// One group of 16 rows, pairs [p0, p0 + P), times T prepared activation rows.
template <int P, int T>
void tile(const uint8_t* g, int64_t nb, int p0, const uint8_t* a, size_t as, int rows, float* out,
          int64_t ldo) {
  static_assert(P * T <= 16, "accumulators must fit the registers");
  __m512 acc[P][T], summs[T];
  for (int t = 0; t < T; ++t) {
    summs[t] = _mm512_setzero_ps();
    for (int p = 0; p < P; ++p) acc[p][t] = _mm512_setzero_ps();
  }
  const size_t sf = scale_floats(nb);
  const __m512i shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  alignas(64) float dd[T][16];
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = g + b * kBlockBytes;
    {  // (past the group's end this is the next group: groups are contiguous)
      const uintptr_t at = reinterpret_cast<uintptr_t>(blk) + kPrefetchBlocks * kBlockBytes;
      for (size_t o = 0; o < kBlockBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(at + o), _MM_HINT_T0);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    __m512i av[T];
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      const auto* at = reinterpret_cast<const float*>(a + t * as);
      // ggml: d = d_w * d_a per block; summs = fma(m_w, s_a, summs) in block order.
      _mm512_store_ps(dd[t], _mm512_mul_ps(dw, _mm512_set1_ps(at[b])));
      summs[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(at[sf + b]), summs[t]);
      av[t] = _mm512_load_si512(a + t * as + 8 * sf + 64 * b);
    }
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 + 32 * (p0 + p)));
      const __m512i w = _mm512_and_si512(_mm512_srlv_epi64(_mm512_broadcast_i64x4(packed), shift), m4);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        double pair;  // {d_2p, d_2p+1} * d_a, broadcast to every lane pair
        std::memcpy(&pair, &dd[t][2 * (p0 + p)], sizeof(pair));
        const __m512 x = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w, av[t]));
        acc[p][t] = _mm512_fmadd_ps(_mm512_castpd_ps(_mm512_set1_pd(pair)), x, acc[p][t]);
      }
    }
  }
  // Rows of the group this tile owns: [2 p0, 2 p0 + 2P) that are below `rows`.
  const int lo = 2 * p0, hi = rows < 2 * (p0 + P) ? rows : 2 * (p0 + P);
  if (hi <= lo) return;
  const __mmask16 keep = static_cast<__mmask16>(((1u << (hi - lo)) - 1) << lo);
#pragma GCC unroll 4
  for (int t = 0; t < T; ++t) {
    __m512 x[kPairs];
    for (int p = 0; p < kPairs; ++p) x[p] = p >= p0 && p < p0 + P ? acc[p - p0][t] : _mm512_setzero_ps();
    const __m512 sum = _mm512_add_ps(reduce_pairs(x), summs[t]);  // ggml: hsum_float_8(acc) + summs
    _mm512_mask_storeu_ps(out + t * ldo, keep, sum);
  }
}

#include "backend/cpu/packed_driver.inc"

}  // namespace

size_t q4_1_packed_bytes(int64_t rows, int64_t n) {
  return static_cast<size_t>((rows + kGroupRows - 1) / kGroupRows) * group_bytes(n);
}

void pack_q4_1(const void* w, size_t w_stride, int64_t rows, int64_t n, void* dst) {
  const int64_t nb = n / 32;
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, q4_1_packed_bytes(rows, n));
  for (int64_t r = 0; r < rows; ++r) {
    const auto* src = reinterpret_cast<const BlockQ4_1*>(static_cast<const uint8_t*>(w) + r * w_stride);
    uint8_t* g = out + (r / kGroupRows) * group_bytes(n);
    const int i = static_cast<int>(r % kGroupRows), p = i / 2, s = i % 2;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = g + b * kBlockBytes;
      std::memcpy(blk + 2 * i, &src[b].d, 2);
      std::memcpy(blk + 32 + 2 * i, &src[b].m, 2);
      for (int c = 0; c < 4; ++c) std::memcpy(blk + 64 + 32 * p + 8 * c + 4 * s, src[b].qs + 4 * c, 4);
    }
  }
}

// Decode (one token): a whole group per tile, 8 accumulators. Prompts: half a group (4 pairs) by
// 4 tokens, so each unpacked weight vector is used 4 times.
void gemm_q4_1_packed(int64_t n, const void* wp, int64_t r0, int nr, const void* a, size_t a_stride,
                      int nt, float* out, int64_t ldo) {
  const int64_t nb = n / 32;
  const size_t gb = group_bytes(n);
  packed_passes(n, static_cast<const uint8_t*>(wp) + (r0 / kGroupRows) * gb, gb, nr, static_cast<const uint8_t*>(a),
                a_stride, nt, out, ldo, prep_bytes(n), 4, prep,
                [nb](const uint8_t* g, int rows, const uint8_t* buf, int tc, size_t ps, float* o, int64_t ld) {
                  if (tc == 1) {
                    tile<8, 1>(g, nb, 0, buf, ps, rows, o, ld);
                    return;
                  }
                  int t = 0;
                  for (; t + 4 <= tc; t += 4)
                    for (int p0 = 0; p0 < kPairs; p0 += 4)
                      tile<4, 4>(g, nb, p0, buf + t * ps, ps, rows, o + t * ld, ld);
                  for (; t < tc; ++t) tile<8, 1>(g, nb, 0, buf + t * ps, ps, rows, o + t * ld, ld);
                });
}

}  // namespace joule::cpu
