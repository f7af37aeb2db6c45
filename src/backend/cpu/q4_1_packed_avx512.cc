// Q4_1 x Q8_1 on AVX-512 from a layout packed once at load time, in ggml's float order.
//
// The default model is Q4_1 and is computed in llama.cpp's exact float order (kernels_avx512.cc,
// Q4_1Exact; docs/parity.md says why): ggml_vec_dot_q4_1_q8_1 keeps 8 float lanes per row, lane l
// summing, block after block, fma(d_w * d_a, float(sum of the 4 products of values 4l..4l+3),
// lane), next to a scalar summs = fma(m_w, s_a, summs), and ends with hsum_float_8(lanes) + summs.
//
// Packed, one zmm lane is one row and one register one ggml lane: vpdpbusd against the
// activation's dword l gives lane l of 16 rows at once, and its scale d_w * d_a is one vector for
// all eight lanes, so a block costs 8 dot products, 8 conversions and 8 FMAs per token and 16 rows
// (the file layout needed inserts and permutes per pair of rows), the unpacked weights (8
// registers) are reused by every token of a tile, and hsum_float_8 is 7 vertical adds.
//
// Packed layout: rows in groups of 16 (the last group padded with zero rows); a group holds its
// blocks in order, each block 320 bytes:
//   f16 d[16], f16 m[16]   (row r of the group at index r)
//   u8  qs[4][16][4]       (chunk c, row r: the file's bytes qs[4c .. 4c+3] of row r; their low
//                          nibbles are values 4c.. (ggml lane c), their high ones values 16 + 4c..
//                          (lane c + 4))

#include "backend/cpu/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels_internal.h"
#include "quant/types.h"

namespace joule::cpu {
namespace {

constexpr int kGroupRows = kPackRows;  // 16
constexpr size_t kBlockBytes = 4 * kGroupRows + 16 * kGroupRows;  // 320
static_assert(kBlockBytes == 320 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ8_1) == 36);

// Every tile prefetches the block this many ahead of the one it reads. The stream is contiguous,
// yet the hardware prefetchers alone leave bandwidth unused: on Llama-2-7B Q4_1 shapes 6 blocks
// (1920 bytes) ahead beat 0, 2, 4, 8 and 10 (+10-15 % decode tokens/s over none). Tiles of
// several tokens (serving's batched decode) need it too: the whole model streams from memory
// each step, and without it the loads stall the multiply-adds instead of overlapping them.
constexpr int kPrefetchBlocks = 6;

size_t group_bytes(int64_t n) { return static_cast<size_t>(n / 32) * kBlockBytes; }

// A prepared Q8_1 activation row of nb blocks: float d[nb16], float s[nb16] (nb16 = nb rounded up
// to 16, so the values start 64-byte aligned), then each block's 32 values.
size_t scale_floats(int64_t nb) { return static_cast<size_t>((nb + 15) / 16 * 16); }
size_t prep_bytes(int64_t n) { return 2 * 4 * scale_floats(n / 32) + 32 * static_cast<size_t>(n / 32); }

void prep(const uint8_t* a, int64_t n, uint8_t* dst) {
  const int64_t nb = n / 32;
  auto* d = reinterpret_cast<float*>(dst);
  float* s = d + scale_floats(nb);
  uint8_t* q = dst + 2 * 4 * scale_floats(nb);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = a + sizeof(BlockQ8_1) * b;  // {f16 d, s; s8 qs[32]}
    uint16_t h[2];
    std::memcpy(h, blk, 4);
    d[b] = _cvtsh_ss(h[0]);
    s[b] = _cvtsh_ss(h[1]);
    std::memcpy(q + 32 * b, blk + 4, 32);
  }
}

// One group of 16 rows times T prepared activation rows: 8 lane accumulators per token (with the
// 8 unpacked weight registers, T = 2 fills the 32 registers).
template <int T>
void tile(const uint8_t* g, int64_t nb, const uint8_t* a, size_t as, int rows, float* out, int64_t ldo) {
  __m512 acc[8][T], summs[T];
  for (int t = 0; t < T; ++t) {
    summs[t] = _mm512_setzero_ps();
    for (int l = 0; l < 8; ++l) acc[l][t] = _mm512_setzero_ps();
  }
  const size_t sf = scale_floats(nb);
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = g + b * kBlockBytes;
    {  // (past the group's end this is the next group: groups are contiguous)
      const uintptr_t at = reinterpret_cast<uintptr_t>(blk) + kPrefetchBlocks * kBlockBytes;
      for (size_t o = 0; o < kBlockBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(at + o), _MM_HINT_T0);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    const __m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
    __m512i w[8];
    for (int c = 0; c < 4; ++c) {
      const __m512i q = _mm512_loadu_si512(blk + 64 + 64 * c);
      w[c] = _mm512_and_si512(q, m4);
      w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    }
#pragma GCC unroll 2
    for (int t = 0; t < T; ++t) {
      const auto* at = reinterpret_cast<const float*>(a + t * as);
      const uint8_t* aq = a + t * as + 8 * sf + 32 * b;
      // ggml: d = d_w * d_a per block; summs = fma(m_w, s_a, summs) in block order.
      const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(at[b]));
      summs[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(at[sf + b]), summs[t]);
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) {
        int32_t four;
        std::memcpy(&four, aq + 4 * l, 4);
        const __m512 x = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w[l], _mm512_set1_epi32(four)));
        acc[l][t] = _mm512_fmadd_ps(dd, x, acc[l][t]);
      }
    }
  }
  const __mmask16 keep = static_cast<__mmask16>(rows >= 16 ? 0xFFFF : (1u << rows) - 1);
  for (int t = 0; t < T; ++t) {
    // ggml: hsum_float_8(lanes) + summs, hsum_float_8 = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
    const __m512 even = _mm512_add_ps(_mm512_add_ps(acc[0][t], acc[4][t]), _mm512_add_ps(acc[2][t], acc[6][t]));
    const __m512 odd = _mm512_add_ps(_mm512_add_ps(acc[1][t], acc[5][t]), _mm512_add_ps(acc[3][t], acc[7][t]));
    _mm512_mask_storeu_ps(out + t * ldo, keep, _mm512_add_ps(_mm512_add_ps(even, odd), summs[t]));
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
    const int i = static_cast<int>(r % kGroupRows);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = g + b * kBlockBytes;
      std::memcpy(blk + 2 * i, &src[b].d, 2);
      std::memcpy(blk + 32 + 2 * i, &src[b].m, 2);
      for (int c = 0; c < 4; ++c) std::memcpy(blk + 64 + 64 * c + 4 * i, src[b].qs + 4 * c, 4);
    }
  }
}

// Groups of 16 rows by tiles of 2 tokens (then 1), each unpacked block used by both; one token
// (decode) streams the group.
void gemm_q4_1_packed(int64_t n, const void* wp, int64_t r0, int nr, const void* a, size_t a_stride,
                      int nt, float* out, int64_t ldo) {
  const int64_t nb = n / 32;
  const size_t gb = group_bytes(n);
  packed_passes(n, static_cast<const uint8_t*>(wp) + (r0 / kGroupRows) * gb, gb, nr, static_cast<const uint8_t*>(a),
                a_stride, nt, out, ldo, prep_bytes(n), 2, prep,
                [nb](const uint8_t* g, int rows, const uint8_t* buf, int tc, size_t ps, float* o, int64_t ld) {
                  int t = 0;
                  for (; t + 2 <= tc; t += 2) tile<2>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld);
                  if (t < tc) tile<1>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld);
                });
}

}  // namespace joule::cpu
