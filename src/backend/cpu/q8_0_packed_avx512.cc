// Q8_0 x Q8_0 on AVX-512 VNNI from a layout packed once at load time, in the scalar oracle's
// float order (kernels_scalar.cc, dot_q8_0): per row, an exact int32 sum per block, times
// (d_w * d_a), added in block order.
//
// Why a packed layout: in the file layout a block's 32 products land in the lanes of one row, so
// every block of every row needs a horizontal reduction and its own scale product before the
// next; serving's batched decode, where the weights are read once for all streams, was bound by
// that per-(row, token) work. Packed, one zmm lane is one row: vpdpbusd sums 4 products per lane
// for 16 rows at once, a block is 8 of them with no reduction, and the scale and add are one
// vector op each per 16 rows. The unpacked weights (8 registers) are reused by every token of a
// tile.
//
// Packed layout: rows in groups of 16 (the last group padded with zero rows); a group holds
//   u8  q[nb][8][16][4]   block b, chunk k, row r: values 4k..4k+3 of row r, each + 128 (so they
//                         are vpdpbusd's unsigned operand; the activation's sum undoes it)
//   f16 d[nb][16]         block b's scale of row r
// rounded up to 64 bytes. Exact: (w + 128) * a summed in int32 minus 128 * sum(a) is sum(w * a),
// and |sum| <= 32 * 128 * 127 converts to float without rounding.

#include "backend/cpu/intrinsics.h"

#include <cstdint>
#include <cstring>

#include "backend/cpu/kernels_internal.h"
#include "quant/types.h"

namespace joule::cpu {
namespace {

constexpr int kGroupRows = kPackRows;  // 16
constexpr size_t kQBytes = 8 * 64;     // one block of 16 rows
static_assert(sizeof(BlockQ8_0) == 34);

// Every tile prefetches this many blocks ahead, as the Q4_1 layout's do (why there). On the
// 49152 x 576 output head, 8 tokens, one thread: 3.7-3.8 ms without, 2.4 ms with.
constexpr int kPrefetchBlocks = 4;

constexpr int kNearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

size_t group_bytes(int64_t n) { return (static_cast<size_t>(n / 32) * (kQBytes + 32) + 63) / 64 * 64; }

// A prepared activation row of nb blocks: float d[nb16], int32 corr[nb16] (= -128 * sum of the
// block's values; nb16 = nb rounded up to 16, so the values start 64-byte aligned), then each
// block's 32 values.
size_t padded(int64_t nb) { return static_cast<size_t>((nb + 15) / 16 * 16); }
size_t prep_bytes(int64_t n) { return 8 * padded(n / 32) + 32 * static_cast<size_t>(n / 32); }

void prep(const uint8_t* a, int64_t n, uint8_t* dst) {
  const int64_t nb = n / 32;
  auto* d = reinterpret_cast<float*>(dst);
  auto* corr = reinterpret_cast<int32_t*>(d + padded(nb));
  uint8_t* q = dst + 8 * padded(nb);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = a + sizeof(BlockQ8_0) * b;  // {f16 d; s8 qs[32]}
    uint16_t h;
    std::memcpy(&h, blk, 2);
    d[b] = _cvtsh_ss(h);
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    const __m512i w = _mm512_cvtepi8_epi16(v);
    corr[b] = -128 * _mm512_reduce_add_epi32(_mm512_madd_epi16(w, _mm512_set1_epi16(1)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * b), v);
  }
}

// One group of 16 rows times T prepared activation rows.
template <int T>
void tile(const uint8_t* g, int64_t nb, const uint8_t* a, size_t as, int rows, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const size_t pb = padded(nb);
  const uint8_t* scales = g + static_cast<size_t>(nb) * kQBytes;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = g + b * kQBytes;
    {  // (past the group's end this is the next group: groups are contiguous)
      const uintptr_t at = reinterpret_cast<uintptr_t>(blk) + kPrefetchBlocks * kQBytes;
      for (size_t o = 0; o < kQBytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(at + o), _MM_HINT_T0);
    }
    __m512i w[8];
    for (int k = 0; k < 8; ++k) w[k] = _mm512_loadu_si512(blk + 64 * k);
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + 32 * b)));
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) {
      const uint8_t* at = a + t * as;
      const auto* ad = reinterpret_cast<const float*>(at);
      const auto* corr = reinterpret_cast<const int32_t*>(ad + pb);
      const uint8_t* aq = at + 8 * pb + 32 * b;
      __m512i s = _mm512_set1_epi32(corr[b]);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        int32_t four;
        std::memcpy(&four, aq + 4 * k, 4);
        s = _mm512_dpbusd_epi32(s, w[k], _mm512_set1_epi32(four));
      }
      // The oracle's float(sumi) * (d_w * d_a), then the add, each rounded: the explicit-rounding
      // forms keep the compiler from contracting the multiply and add into an FMA.
      const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(ad[b]));
      acc[t] = _mm512_add_round_ps(acc[t], _mm512_mul_round_ps(_mm512_cvtepi32_ps(s), dd, kNearest), kNearest);
    }
  }
  const __mmask16 keep = static_cast<__mmask16>(rows >= 16 ? 0xFFFF : (1u << rows) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, keep, acc[t]);
}

#include "backend/cpu/packed_driver.inc"

}  // namespace

size_t q8_0_packed_bytes(int64_t rows, int64_t n) {
  return static_cast<size_t>((rows + kGroupRows - 1) / kGroupRows) * group_bytes(n);
}

void pack_q8_0(const void* w, size_t w_stride, int64_t rows, int64_t n, void* dst) {
  const int64_t nb = n / 32;
  auto* out = static_cast<uint8_t*>(dst);
  std::memset(out, 0, q8_0_packed_bytes(rows, n));
  for (int64_t r = 0; r < rows; ++r) {
    const auto* src = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(w) + r * w_stride);
    uint8_t* g = out + (r / kGroupRows) * group_bytes(n);
    const int i = static_cast<int>(r % kGroupRows);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = g + b * kQBytes;
      for (int k = 0; k < 8; ++k)
        for (int j = 0; j < 4; ++j) blk[64 * k + 4 * i + j] = static_cast<uint8_t>(src[b].qs[4 * k + j] + 128);
      std::memcpy(g + nb * kQBytes + 32 * b + 2 * i, &src[b].d, 2);
    }
  }
}

// Groups of 16 rows by tiles of 8 tokens (then 4, 2, 1 for the rest), each unpacked block used by
// every token of the tile; one token (decode) streams the group with prefetches.
void gemm_q8_0_packed(int64_t n, const void* wp, int64_t r0, int nr, const void* a, size_t a_stride, int nt,
                      float* out, int64_t ldo) {
  const int64_t nb = n / 32;
  const size_t gb = group_bytes(n);
  packed_passes(n, static_cast<const uint8_t*>(wp) + (r0 / kGroupRows) * gb, gb, nr, static_cast<const uint8_t*>(a),
                a_stride, nt, out, ldo, prep_bytes(n), 8, prep,
                [nb](const uint8_t* g, int rows, const uint8_t* buf, int tc, size_t ps, float* o, int64_t ld) {
                  int t = 0;
                  for (; t + 8 <= tc; t += 8) tile<8>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld);
                  if (t + 4 <= tc) tile<4>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld), t += 4;
                  if (t + 2 <= tc) tile<2>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld), t += 2;
                  if (t < tc) tile<1>(g, nb, buf + t * ps, ps, rows, o + t * ld, ld);
                });
}

}  // namespace joule::cpu
