// AVX2 kernels (AVX2, FMA, F16C): compiled with JOULE_AVX2_FLAGS and only reached through
// avx2_kernels() after the CPU check. See kernels_internal.h for the linkage rules.
//
// Same structure as kernels_avx512.cc with 256-bit vectors and 16 registers, and without VNNI:
// int8 products use vpmaddubsw (u8 x s8 -> int16 pairs) then vpmaddwd (-> int32). Tiles keep
// R x T accumulators; one row's unpacked weights are live at a time and activations are read
// from L1 as memory operands, which fits the register file.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cpu/kernels_internal.h"

namespace joule::cpu {
namespace {

// ---- small helpers ----------------------------------------------------------------------------

float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

__m128i loadu128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
__m256i loadu256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
__m256i load256(const void* p) { return _mm256_load_si256(static_cast<const __m256i*>(p)); }

// Horizontal sums of four vectors by transpose-and-add: lane i = sum of the i-th argument.
__m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
  const __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
  const __m256 abcd =
      _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xEE));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

// Sums acc[r][t] over lanes and stores out[t * ldo + r], r < R, t < T.
template <int R, int T>
void store_tile(__m256 (&acc)[R][T], float* out, int64_t ldo) {
  static_assert(R <= 4);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
    __m256 v[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) v[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) v[r] = acc[r][t];
    const __m128 s = hsum4(v[0], v[1], v[2], v[3]);
    if constexpr (R == 4) {
      _mm_storeu_ps(out + t * ldo, s);
    } else {
      float tmp[4];
      _mm_storeu_ps(tmp, s);
      std::memcpy(out + t * ldo, tmp, R * sizeof(float));
    }
  }
}

// ---- the driver -------------------------------------------------------------------------------

#include "backend/cpu/kernels_driver.inc"

// ---- float weights (F32, F16, BF16) x F32 activations ----------------------------------------

// Weights widen to f32 on load (F16: vcvtph2ps; BF16: zero-extend and shift left 16, exact), then
// FMA with f32 activations. A tail of n % 8 values goes through zero-padded copies.
struct LoadF32 {
  static constexpr size_t kHeader = 0;
  static constexpr size_t kBytes = 4;
  static __m256 load(const uint8_t* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
};
struct LoadF16 {
  static constexpr size_t kHeader = 0;
  static constexpr size_t kBytes = 2;
  static __m256 load(const uint8_t* p) { return _mm256_cvtph_ps(loadu128(p)); }
};
struct LoadBF16 {
  static constexpr size_t kHeader = 0;
  static constexpr size_t kBytes = 2;
  static __m256 load(const uint8_t* p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
  }
};
// Weight-only int8 (I8_CH): sign-extend and convert, exact; kHeader: the row scale comes first
// and multiplies the row's sums once.
struct LoadI8 {
  static constexpr size_t kHeader = sizeof(RowHeaderI8);
  static constexpr size_t kBytes = 1;
  static __m256 load(const uint8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
};

template <class L>
struct FloatKernel {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 4;
  static constexpr int kT = 3;
  static constexpr int kRDecode = 4;

  template <int R, int T>
  static void tile(const Tile& p) {
    const uint8_t* w = p.w + L::kHeader;
    __m256 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    auto step = [&](auto w_at, auto a_at) {
      __m256 x[T];
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) x[t] = LoadF32::load(a_at(t));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (T == 1) prefetch_ahead<8 * L::kBytes, R>(p, r, w_at(r));
        const __m256 wv = L::load(w_at(r));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, x[t], acc[r][t]);
      }
    };
    int64_t k = 0;
    for (; k + 8 <= p.n; k += 8)
      step([&](int r) { return w + r * p.ws + L::kBytes * k; },
           [&](int t) { return p.a + t * p.as + 4 * k; });
    if (const auto rem = static_cast<size_t>(p.n - k)) {
      alignas(32) uint8_t wbuf[R][32] = {};
      alignas(32) uint8_t abuf[T][32] = {};
      for (int r = 0; r < R; ++r)
        std::memcpy(wbuf[r], w + r * p.ws + L::kBytes * k, L::kBytes * rem);
      for (int t = 0; t < T; ++t) std::memcpy(abuf[t], p.a + t * p.as + 4 * k, 4 * rem);
      step([&](int r) { return &wbuf[r][0]; }, [&](int t) { return &abuf[t][0]; });
    }
    if constexpr (L::kHeader > 0) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        float scale;
        std::memcpy(&scale, p.w + r * p.ws, sizeof(scale));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_mul_ps(acc[r][t], _mm256_set1_ps(scale));
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// 2:4 sparse f16 (F16_S24) x f32. Each half of a 16-value block keeps exactly 4 values (two of
// each 4), its 4 f16 values in a row: widen them, then place them at the mask byte's positions
// with one vpermps from a 256-entry index table (AVX2 has no vexpandps) and zero the others.
struct S24Expand {
  alignas(32) int32_t idx[256][8];
  alignas(32) int32_t keep[256][8];
};
constexpr S24Expand make_s24_expand() {
  S24Expand t{};
  for (int m = 0; m < 256; ++m) {
    int k = 0;
    for (int i = 0; i < 8; ++i) {
      const bool kept = (m >> i & 1) && k < 4;
      t.idx[m][i] = kept ? k : 0;
      t.keep[m][i] = kept ? -1 : 0;
      k += kept;
    }
  }
  return t;
}
constexpr S24Expand kS24Expand = make_s24_expand();

__m256 load_s24_half(const uint8_t* block, int half) {
  const int m = block[half];  // the mask's low byte for values 0..7, high byte for 8..15
  const __m256 kept = _mm256_castps128_ps256(
      _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block + 2 + 8 * half))));
  const __m256 placed = _mm256_permutevar8x32_ps(kept, load256(kS24Expand.idx[m]));
  return _mm256_and_ps(placed, _mm256_castsi256_ps(load256(kS24Expand.keep[m])));
}

struct S24Kernel {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 4;
  static constexpr int kT = 3;
  static constexpr int kRDecode = 4;

  template <int R, int T>
  static void tile(const Tile& p) {
    __m256 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p.n / 16; ++b) {
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {
        __m256 x[T];
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) x[t] = LoadF32::load(p.a + t * p.as + 4 * (16 * b + 8 * half));
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          const uint8_t* block = p.w + r * p.ws + sizeof(BlockF16S24) * b;
          if constexpr (T == 1) prefetch_ahead<32, R>(p, r, block);
          const __m256 wv = load_s24_half(block, half);
#pragma GCC unroll 16
          for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, x[t], acc[r][t]);
        }
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// W8A8 per-channel int8 (I8_DYN x I8_ACT). AVX2 has no VNNI: vpmaddubsw multiplies unsigned by
// signed bytes into saturating int16 pairs, so it gets |a| and w * sign(a) (|a|, |w| <= 127: a
// pair is at most 32258, no saturation), then vpmaddwd widens the pairs into int32 lanes.
struct I8DynKernel {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 4;
  static constexpr int kT = 2;
  static constexpr int kRDecode = 4;

  template <int R, int T>
  static void tile(const Tile& p) {
    constexpr size_t kH = sizeof(RowHeaderI8);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
    for (int64_t k = 0; k < p.n; k += 32) {
      __m256i a[T], abs_a[T];
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        a[t] = loadu256(p.a + t * p.as + kH + k);
        abs_a[t] = _mm256_abs_epi8(a[t]);
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* wr = p.w + r * p.ws + kH + k;
        if constexpr (T == 1) prefetch_ahead<32, R>(p, r, wr);
        const __m256i wv = loadu256(wr);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const __m256i pairs = _mm256_maddubs_epi16(abs_a[t], _mm256_sign_epi8(wv, a[t]));
          acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(pairs, ones));
        }
      }
    }
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      RowHeaderI8 ha;
      std::memcpy(&ha, p.a + t * p.as, kH);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        RowHeaderI8 hw;
        std::memcpy(&hw, p.w + r * p.ws, kH);
        p.out[t * p.ldo + r] = static_cast<float>(hsum_i32(acc[r][t])) * (hw.scale * ha.scale);
      }
    }
  }
};

// ---- 32-value blocks (Q4_0, Q4_1, Q8_0) x Q8_0 / Q8_1 activations ---------------------------
//
// Q4 weights go two blocks per step in "nibble order": 128-bit lane b of one register holds
// block b's values 0..15, of another its values 16..31. That is what one AND (low nibbles) and
// one shift + AND (high nibbles) give for the two blocks' 16 packed bytes each, so 64 weights
// unpack in four instructions. Products go vpmaddubsw (u8 weight x s8 activation into int16
// pairs, |pair| <= 2 * 15 * 127; the two halves add without overflow) and vpmaddwd with ones
// into int32, and one FMA applies d_w * d_a per lane. Activations are rearranged to match once
// per call (prep), with block scales spread over their lanes and Q4_0's -8 * sum(a) as a ready
// int32 correction. Q8_0 weights stay one block per register (natural order).

struct alignas(32) ActQ8x2 {  // two Q8_0 / Q8_1 blocks, for Q4_0 / Q4_1 weights
  int8_t lo[32];              // lane b: values 0..15 of block b
  int8_t hi[32];              // lane b: values 16..31 of block b
  int32_t corr[8];  // lanes 4b..4b+3: -8 * (partial sums of block b); they add up per block
  float d[8];       // lanes 4b..4b+3: block b's scale
  float s[8];       // lane 4b: Q8_1's s = d * sum(q) of block b; other lanes 0
};

struct alignas(32) ActQ8 {  // one Q8_0 block, for Q8_0 weights
  int8_t q[32];
  float d[8];  // the scale in every lane
};

int64_t pairs_of(int64_t n) { return (n / 32 + 1) / 2; }

__m256i ones16() { return _mm256_set1_epi16(1); }

// Rearranges a row of blocks {f16 d; [f16 s;] int8 q[32]} (kBytes each, q at kQs) into ActQ8x2.
template <int kBytes, int kQs>
void prep_q8x2(const uint8_t* a, int64_t n, uint8_t* dst) {
  auto* g = reinterpret_cast<ActQ8x2*>(dst);
  const int64_t nb = n / 32;
  for (int64_t i = 0; i < pairs_of(n); ++i) {
    const uint8_t* b0 = a + 2 * kBytes * i;
    const bool two = 2 * i + 1 < nb;
    const uint8_t* b1 = b0 + kBytes;
    const __m128i z = _mm_setzero_si128();
    const __m256i lo = _mm256_set_m128i(two ? loadu128(b1 + kQs) : z, loadu128(b0 + kQs));
    const __m256i hi = _mm256_set_m128i(two ? loadu128(b1 + kQs + 16) : z, loadu128(b0 + kQs + 16));
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i sums = _mm256_madd_epi16(
        _mm256_add_epi16(_mm256_maddubs_epi16(ones8, lo), _mm256_maddubs_epi16(ones8, hi)),
        ones16());
    _mm256_store_si256(reinterpret_cast<__m256i*>(g[i].lo), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(g[i].hi), hi);
    _mm256_store_si256(reinterpret_cast<__m256i*>(g[i].corr),
                       _mm256_mullo_epi32(sums, _mm256_set1_epi32(-8)));
    const float d0 = half_to_float(load_u16(b0));
    const float d1 = two ? half_to_float(load_u16(b1)) : 0.0f;
    _mm256_store_ps(g[i].d, _mm256_set_m128(_mm_set1_ps(d1), _mm_set1_ps(d0)));
    float s0 = 0.0f, s1 = 0.0f;
    if constexpr (kQs == 4) {
      s0 = half_to_float(load_u16(b0 + 2));
      s1 = two ? half_to_float(load_u16(b1 + 2)) : 0.0f;
    }
    _mm256_store_ps(g[i].s, _mm256_setr_ps(s0, 0, 0, 0, s1, 0, 0, 0));
  }
}

void prep_q8(const uint8_t* a, int64_t n, uint8_t* dst) {
  auto* g = reinterpret_cast<ActQ8*>(dst);
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* blk = a + 34 * b;
    _mm256_store_si256(reinterpret_cast<__m256i*>(g[b].q), loadu256(blk + 2));
    _mm256_store_ps(g[b].d, _mm256_set1_ps(half_to_float(load_u16(blk))));
  }
}

// Two f16 values a, b as f32 [a x4, b x4] (kSpread) or [a, 0, 0, 0, b, 0, 0, 0].
template <bool kSpread>
__m256 halves(uint16_t a, uint16_t b) {
  const __m128i pattern =
      kSpread ? _mm_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3)
              : _mm_setr_epi8(0, 1, -1, -1, -1, -1, -1, -1, 2, 3, -1, -1, -1, -1, -1, -1);
  return _mm256_cvtph_ps(_mm_shuffle_epi8(_mm_cvtsi32_si128(a | (b << 16)), pattern));
}

struct Q4W {
  __m256i lo, hi;
  __m256 d, m;
};

// Two Q4 blocks (qs at kQs, d at 0, m at 2 when kMin); `two` false for a lone last block.
template <int kBytes, int kQs, bool kMin>
Q4W load_q4(const uint8_t* p, bool two) {
  const __m128i q1 = two ? loadu128(p + kBytes + kQs) : _mm_setzero_si128();
  const __m256i q = _mm256_set_m128i(q1, loadu128(p + kQs));
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const uint16_t d1 = two ? load_u16(p + kBytes) : 0;
  Q4W w{_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
        halves<true>(load_u16(p), d1), _mm256_setzero_ps()};
  if constexpr (kMin) w.m = halves<false>(load_u16(p + 2), two ? load_u16(p + kBytes + 2) : 0);
  return w;
}

// Byte i is 0xFF where bit i of `bits` is set, else 0 (ggml's bytes_from_bits_32).
__m256i bytes_from_bits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000));
  const __m256i all_but_own_bit = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  return _mm256_cmpeq_epi8(_mm256_or_si256(spread, all_but_own_bit), _mm256_set1_epi64x(-1));
}

// Two Q5 blocks (qh at kQh, qs after it): Q4's nibbles with bit 4 from qh. In nibble order the
// low register takes bits 0..15 of each block's qh, the high register bits 16..31.
template <int kBytes, int kQh, bool kMin>
Q4W load_q5(const uint8_t* p, bool two) {
  Q4W w = load_q4<kBytes, kQh + 4, kMin>(p, two);
  uint32_t h0, h1 = 0;
  std::memcpy(&h0, p + kQh, 4);
  if (two) std::memcpy(&h1, p + kBytes + kQh, 4);
  const __m256i bit4 = _mm256_set1_epi8(0x10);
  w.lo = _mm256_or_si256(w.lo, _mm256_and_si256(bytes_from_bits((h0 & 0xFFFF) | (h1 << 16)), bit4));
  w.hi = _mm256_or_si256(w.hi, _mm256_and_si256(bytes_from_bits((h0 >> 16) | (h1 & 0xFFFF0000u)), bit4));
  return w;
}

__m256i dot_q4(const Q4W& w, const ActQ8x2& a) {
  const __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(w.lo, load256(a.lo)),
                                       _mm256_maddubs_epi16(w.hi, load256(a.hi)));
  return _mm256_madd_epi16(p16, ones16());
}

// Each kernel loads pair i (values 64i..64i+63) of a row; pair_offset(i) is where its bytes
// start, kPairBytes how many there are (for the prefetch).

// Q4_0: x = d * (q - 8): dot = d * da * (q . qa - 8 sum(qa)).
struct Q4_0Kernel {
  static constexpr size_t kPairBytes = 36;
  static size_t pair_offset(int64_t i) { return kPairBytes * static_cast<size_t>(i); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8x2<34, 2>(a, n, dst); }
  static Q4W load(const uint8_t* row, int64_t i, bool two) { return load_q4<18, 2, false>(row + pair_offset(i), two); }
  static __m256 madd(const Q4W& w, const ActQ8x2& a, __m256 acc) {
    const __m256i s = _mm256_add_epi32(dot_q4(w, a), load256(a.corr));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(w.d, _mm256_load_ps(a.d)), acc);
  }
};

// Q4_1: x = d * q + m: dot = d * da * (q . qa) + m * s.
struct Q4_1Kernel {
  static constexpr size_t kPairBytes = 40;
  static size_t pair_offset(int64_t i) { return kPairBytes * static_cast<size_t>(i); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8x2<36, 4>(a, n, dst); }
  static Q4W load(const uint8_t* row, int64_t i, bool two) { return load_q4<20, 4, true>(row + pair_offset(i), two); }
  static __m256 madd(const Q4W& w, const ActQ8x2& a, __m256 acc) {
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_q4(w, a)), _mm256_mul_ps(w.d, _mm256_load_ps(a.d)),
                          acc);
    return _mm256_fmadd_ps(w.m, _mm256_load_ps(a.s), acc);
  }
};

// Q5_0: x = d * (q - 16), q in [0, 31]: Q4_0's dot with the -8 * sum(qa) correction twice
// (|pair| <= 2 * 31 * 127, the two halves still add without overflow).
struct Q5_0Kernel {
  static constexpr size_t kPairBytes = 2 * sizeof(BlockQ5_0);
  static size_t pair_offset(int64_t i) { return kPairBytes * static_cast<size_t>(i); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { Q4_0Kernel::prep(a, n, dst); }
  static Q4W load(const uint8_t* row, int64_t i, bool two) {
    return load_q5<sizeof(BlockQ5_0), 2, false>(row + pair_offset(i), two);
  }
  static __m256 madd(const Q4W& w, const ActQ8x2& a, __m256 acc) {
    const __m256i s = _mm256_add_epi32(dot_q4(w, a), _mm256_slli_epi32(load256(a.corr), 1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(w.d, _mm256_load_ps(a.d)), acc);
  }
};

// Q5_1: x = d * q + m, q in [0, 31]: Q4_1's arithmetic.
struct Q5_1Kernel {
  static constexpr size_t kPairBytes = 2 * sizeof(BlockQ5_1);
  static size_t pair_offset(int64_t i) { return kPairBytes * static_cast<size_t>(i); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { Q4_1Kernel::prep(a, n, dst); }
  static Q4W load(const uint8_t* row, int64_t i, bool two) {
    return load_q5<sizeof(BlockQ5_1), 4, true>(row + pair_offset(i), two);
  }
  static __m256 madd(const Q4W& w, const ActQ8x2& a, __m256 acc) { return Q4_1Kernel::madd(w, a, acc); }
};

// int4 g128 (Q4_G128 / Q4_G128Z): pair i is half of block i / 2, so its two 32-value sub-blocks
// share the block's scale (and zero point); the arithmetic is Q4_0's (Q4_1's).
template <bool kZero>
struct Q4G128Kernel {
  static constexpr size_t kBlockBytes = kZero ? sizeof(BlockQ4G128Z) : sizeof(BlockQ4G128);
  static constexpr size_t kPairBytes = 32;
  static size_t pair_offset(int64_t i) {
    return kBlockBytes * static_cast<size_t>(i / 2) + (kZero ? 4 : 2) + 32 * static_cast<size_t>(i % 2);
  }
  using Base = std::conditional_t<kZero, Q4_1Kernel, Q4_0Kernel>;
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { Base::prep(a, n, dst); }
  static Q4W load(const uint8_t* row, int64_t i, bool) {  // rows are whole blocks: pairs come in twos
    const uint8_t* block = row + kBlockBytes * static_cast<size_t>(i / 2);
    const __m256i q = loadu256(row + pair_offset(i));  // lane b: sub-block 2 (i % 2) + b
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    return Q4W{_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
               _mm256_set1_ps(_cvtsh_ss(load_u16(block))),
               kZero ? _mm256_set1_ps(_cvtsh_ss(load_u16(block + 2))) : _mm256_setzero_ps()};
  }
  static __m256 madd(const Q4W& w, const ActQ8x2& a, __m256 acc) { return Base::madd(w, a, acc); }
};

// Row-inner tiles: one row's unpacked pair of blocks is live at a time and the T tokens'
// prepared activations are memory operands, which fits 16 registers (2 x 4 measured best of
// 4x3, 4x2, 2x4, 3x3).
template <class K>
struct Q4Kernel : K {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 2;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 4;
  static size_t prep_bytes(int64_t n) { return static_cast<size_t>(pairs_of(n)) * sizeof(ActQ8x2); }

  template <int R, int T>
  static void tile(const Tile& p) {
    __m256 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    const int64_t nb = p.n / 32;
    auto step = [&](int64_t i, bool two) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* row = p.w + r * p.ws;
        if constexpr (T == 1) prefetch_ahead<K::kPairBytes, R>(p, r, row + K::pair_offset(i));
        const Q4W w = K::load(row, i, two);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t)
          acc[r][t] = K::madd(w, reinterpret_cast<const ActQ8x2*>(p.a + t * p.as)[i], acc[r][t]);
      }
    };
    for (int64_t i = 0; i < nb / 2; ++i) step(i, true);
    if (nb % 2) step(nb / 2, false);
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// Q8_0: both sides signed, so the sign moves to the activation (vpsignb) and |w| is the unsigned
// operand; |w| <= 128 and |a| <= 127 keep vpmaddubsw's pair sums below 2^15.
struct Q8_0Kernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 2;
  static constexpr int kRDecode = 4;
  static size_t prep_bytes(int64_t n) { return static_cast<size_t>(n / 32) * sizeof(ActQ8); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8(a, n, dst); }

  template <int R, int T>
  static void tile(const Tile& p) {
    __m256 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < p.n / 32; ++b) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = p.w + r * p.ws + b * 34;
        if constexpr (T == 1) prefetch_ahead<34, R>(p, r, blk);
        const __m256i q = loadu256(blk + 2);
        const __m256i aq = _mm256_abs_epi8(q);
        const __m256 d = _mm256_set1_ps(half_to_float(load_u16(blk)));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) {
          const ActQ8& a = reinterpret_cast<const ActQ8*>(p.a + t * p.as)[b];
          const __m256i s = _mm256_madd_epi16(
              _mm256_maddubs_epi16(aq, _mm256_sign_epi8(load256(a.q), q)), ones16());
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_load_ps(a.d)),
                                      acc[r][t]);
        }
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// ---- k-quants (Q2_K .. Q6_K) x Q8_K activations ----------------------------------------------
//
// The unpacked weights of a super-block do not fit 16 registers, so each row's super-block is
// unpacked once into an L1 buffer (u8 values in activation order plus ready int16 scale vectors)
// and every token of the tile reads it back: per 32 values, vpmaddubsw (u8 x s8), vpmaddwd with
// the sub-block scales, and an int32 add. The offsets (mins, Q3_K's -4, Q6_K's -32) use the Q8_K
// 16-value sums (bsums); activations are used in place. Q4_K and Q6_K unpack with their own
// vector code; Q2_K, Q3_K and Q5_K through kquants_unpack.inc.

constexpr int kQ8KBytes = 4 + 256 + 32;  // sizeof(BlockQ8_K)

struct alignas(32) KUnpacked {
  uint8_t q[256];     // values in activation order
  int16_t sc[8][16];  // per 32 values: the int16 scale of each vpmaddubsw lane
  int16_t m[16];      // pairs with the 16 bsums (Q4_K: m_{j/2}; Q6_K: -32 sc_j)
  float d, dmin;      // Q6_K: dmin unused (its offset shares d)
  int16_t sc16[16];   // kquants_unpack.inc's per-group scales, before they become sc
};

#include "backend/cpu/kquants_unpack.inc"

// Per-group scales (sc16) spread to the vpmaddubsw lanes: the 16 values of group 2j are lanes
// 0..7 of sc[j], group 2j + 1 lanes 8..15.
void spread_group_scales(KUnpacked& u) {
  for (int j = 0; j < 8; ++j)
    _mm256_store_si256(reinterpret_cast<__m256i*>(u.sc[j]),
                       _mm256_set_m128i(_mm_set1_epi16(u.sc16[2 * j + 1]), _mm_set1_epi16(u.sc16[2 * j])));
}

// A kquants_unpack.inc type.
template <class P>
struct PortableKBase : P {
  static void unpack(const uint8_t* p, KUnpacked& u) {
    P::unpack(p, u);
    spread_group_scales(u);
  }
};

// Q4_K: 144-byte super-blocks {f16 d, dmin; u8 scales[12]; u8 qs[128]}.
struct Q4_KBase {
  static constexpr int kBlockBytes = 144;
  static constexpr bool kOffsetSharesScale = false;
  static void unpack(const uint8_t* p, KUnpacked& u) {
    uint8_t b[16];  // 0..7 scales, 8..15 mins
    k4_scales_mins(p + 4, b);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int c = 0; c < 4; ++c) {  // chunk c: sub-blocks 2c (low nibbles), 2c+1 (high)
      const __m256i x = loadu256(p + 16 + 32 * c);
      _mm256_store_si256(reinterpret_cast<__m256i*>(u.q + 64 * c), _mm256_and_si256(x, m4));
      _mm256_store_si256(reinterpret_cast<__m256i*>(u.q + 64 * c + 32),
                         _mm256_and_si256(_mm256_srli_epi16(x, 4), m4));
    }
    for (int j = 0; j < 8; ++j)
      _mm256_store_si256(reinterpret_cast<__m256i*>(u.sc[j]), _mm256_set1_epi16(b[j]));
    for (int j = 0; j < 16; ++j) u.m[j] = b[8 + j / 2];
    u.d = half_to_float(load_u16(p));
    u.dmin = half_to_float(load_u16(p + 2));
  }
};

// Q6_K: 210-byte super-blocks {u8 ql[128]; u8 qh[64]; s8 scales[16]; f16 d}; per 128-value half
// h: low nibbles of ql[64h..] are values 0..63, high nibbles 64..127; qh[32h + l] holds bits 4..5
// of values l, l+32, l+64, l+96 in its bit pairs 0, 2, 4, 6.
struct Q6_KBase {
  static constexpr int kBlockBytes = 210;
  static constexpr bool kOffsetSharesScale = true;
  static void unpack(const uint8_t* p, KUnpacked& u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m256i qh = loadu256(p + 128 + 32 * h);
      for (int k = 0; k < 2; ++k) {  // ql bytes 32k..32k+31 of this half
        const __m256i ql = loadu256(p + 64 * h + 32 * k);
        // values 32k + l (bit pair k) and 64 + 32k + l (bit pair 2 + k)
        const __m256i hi_a = _mm256_and_si256(_mm256_slli_epi16(qh, 4 - 2 * k), m30);
        const __m256i hi_b = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m30);
        _mm256_store_si256(reinterpret_cast<__m256i*>(u.q + 128 * h + 32 * k),
                           _mm256_or_si256(_mm256_and_si256(ql, m4), hi_a));
        _mm256_store_si256(reinterpret_cast<__m256i*>(u.q + 128 * h + 64 + 32 * k),
                           _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql, 4), m4), hi_b));
      }
    }
    int8_t sc[16];
    std::memcpy(sc, p + 192, 16);
    for (int j = 0; j < 16; ++j) {
      u.sc16[j] = sc[j];
      u.m[j] = static_cast<int16_t>(-32 * sc[j]);
    }
    spread_group_scales(u);
    u.d = half_to_float(load_u16(p + 208));
  }
};

template <class K>
struct SuperBlockKernel : K {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 4;

  // acc += da * (d * sum_j sc_j (q . qa)_j + offset), offset from m . bsums.
  static __m256 madd(const KUnpacked& u, const uint8_t* a, __m256 acc) {
    __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m256i p16 = _mm256_maddubs_epi16(load256(u.q + 32 * j), loadu256(a + 4 + 32 * j));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(p16, load256(u.sc[j])));
    }
    const __m256i off = _mm256_madd_epi16(load256(u.m), loadu256(a + 260));
    float da;
    std::memcpy(&da, a, 4);
    __m256 f;
    if constexpr (K::kOffsetSharesScale) {
      f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s, off)), _mm256_set1_ps(u.d));
    } else {
      f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(u.d),
                          _mm256_mul_ps(_mm256_cvtepi32_ps(off), _mm256_set1_ps(u.dmin)));
    }
    return _mm256_fmadd_ps(f, _mm256_set1_ps(da), acc);
  }

  template <int R, int T>
  static void tile(const Tile& p) {
    __m256 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    KUnpacked u;
    for (int64_t b = 0; b < p.n / 256; ++b) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (T == 1) prefetch_ahead<K::kBlockBytes, R>(p, r, p.w + r * p.ws + b * K::kBlockBytes);
        K::unpack(p.w + r * p.ws + b * K::kBlockBytes, u);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = madd(u, p.a + t * p.as + b * kQ8KBytes, acc[r][t]);
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// ---- activation converters (bit-identical to quantize_row_ref) -------------------------------

void convert_f32(const float* x, void* out, int64_t n) {
  std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
}

// Packs 32 int32 (values within int8) into 32 bytes in order.
void store_i8x32(uint8_t* dst, __m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0..3 b0..3 | a4..7 b4..7
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);  // lane order a0 b0 c0 d0 | a1 b1 c1 d1
  const __m256i fixed =
      _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), fixed);
}

// One 32-value block as for Q8_0 / Q8_1 activations, like ggml's x86 quantize_row_q8_*:
// q = nearest-even(x * (127 / amax)), d = amax / 127; returns d and stores sum(q) in *sum.
float quantize_block_q8(const float* x, uint8_t* q, int* sum) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm256_loadu_ps(x + 8 * j);
    amax = _mm256_max_ps(amax, abs_ps(v[j]));
  }
  const float max = hmax(amax);
  const __m256 id = _mm256_set1_ps(max != 0.0f ? 127.0f / max : 0.0f);
  __m256i i[4];  // vcvtps2dq rounds to nearest even (the default MXCSR mode)
  for (int j = 0; j < 4; ++j) i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
  store_i8x32(q, i[0], i[1], i[2], i[3]);
  *sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
  return max / 127.0f;
}

void store_half(uint8_t* p, float f) {
  const uint16_t h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
  std::memcpy(p, &h, 2);
}

// I8_ACT: the whole row with one scale, q = nearest-even(x * (127 / amax)), d = amax / 127,
// sum_q in the header (n is a multiple of 32).
void convert_i8_act(const float* x, void* out, int64_t n) {
  __m256 vmax = _mm256_setzero_ps();
  for (int64_t k = 0; k < n; k += 8) vmax = _mm256_max_ps(vmax, abs_ps(_mm256_loadu_ps(x + k)));
  const float amax = hmax(vmax);
  const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  auto* q = static_cast<uint8_t*>(out) + sizeof(RowHeaderI8);
  __m256i vsum = _mm256_setzero_si256();
  for (int64_t k = 0; k < n; k += 32) {
    __m256i i[4];
    for (int j = 0; j < 4; ++j) {
      i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * j), id));
      vsum = _mm256_add_epi32(vsum, i[j]);
    }
    store_i8x32(q + k, i[0], i[1], i[2], i[3]);
  }
  const RowHeaderI8 h{amax / 127.0f, hsum_i32(vsum)};
  std::memcpy(out, &h, sizeof(h));
}

void convert_q8_0(const float* x, void* out, int64_t n) {
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n / 32; ++b, x += 32, y += 34) {
    int sum;
    store_half(y, quantize_block_q8(x, y + 2, &sum));
  }
}

void convert_q8_1(const float* x, void* out, int64_t n) {
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n / 32; ++b, x += 32, y += 36) {
    int sum;
    const float d = quantize_block_q8(x, y + 4, &sum);
    store_half(y, d);
    store_half(y + 2, static_cast<float>(sum) * d);
  }
}

// Q8_K: iscale = -127 / max (max = the first value of largest magnitude), q = min(127,
// nearest-even(iscale * x)), bsums = sums of each 16, d = 1 / iscale.
void convert_q8_k(const float* x, void* out, int64_t n) {
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n / 256; ++b, x += 256, y += kQ8KBytes) {
    __m256 vmax = _mm256_setzero_ps();
    for (int j = 0; j < 256; j += 8) vmax = _mm256_max_ps(vmax, abs_ps(_mm256_loadu_ps(x + j)));
    const float amax = hmax(vmax);
    if (amax == 0.0f) {
      std::memset(y, 0, kQ8KBytes);
      continue;
    }
    float max = 0.0f;
    for (int j = 0; j < 256; j += 8) {
      const int hit = _mm256_movemask_ps(
          _mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
      if (hit != 0) {
        max = x[j + __builtin_ctz(static_cast<unsigned>(hit))];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m256 is = _mm256_set1_ps(iscale);
    const __m256i q_max = _mm256_set1_epi32(127);
    int16_t bsums[16];
    for (int j = 0; j < 256; j += 32) {
      __m256i i[4];
      for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), is),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        i[k] = _mm256_min_epi32(_mm256_cvtps_epi32(v), q_max);
      }
      store_i8x32(y + 4 + j, i[0], i[1], i[2], i[3]);
      bsums[j / 16] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(i[0], i[1])));
      bsums[j / 16 + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(i[2], i[3])));
    }
    std::memcpy(y + 260, bsums, sizeof(bsums));
    const float d = 1 / iscale;
    std::memcpy(y, &d, 4);
  }
}

// ---- the table --------------------------------------------------------------------------------

using Q4_0 = Q4Kernel<Q4_0Kernel>;
using Q4_1 = Q4Kernel<Q4_1Kernel>;
using Q5_0 = Q4Kernel<Q5_0Kernel>;
using Q5_1 = Q4Kernel<Q5_1Kernel>;
using Q8_0 = Q8_0Kernel;
using Q2_K = SuperBlockKernel<PortableKBase<Q2_KUnpack>>;
using Q3_K = SuperBlockKernel<PortableKBase<Q3_KUnpack>>;
using Q4_K = SuperBlockKernel<Q4_KBase>;
using Q5_K = SuperBlockKernel<PortableKBase<Q5_KUnpack>>;
using Q6_K = SuperBlockKernel<Q6_KBase>;

constexpr TypeKernels kF32{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadF32>>};
constexpr TypeKernels kF16{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadF16>>};
constexpr TypeKernels kBF16{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadBF16>>};
constexpr TypeKernels kQ8_0{DType::kQ8_0, &convert_q8_0, &gemm<Q8_0>};
constexpr TypeKernels kQ4_0{DType::kQ8_0, &convert_q8_0, &gemm<Q4_0>};
constexpr TypeKernels kQ4_1{DType::kQ8_1, &convert_q8_1, &gemm<Q4_1>};
constexpr TypeKernels kQ5_0{DType::kQ8_0, &convert_q8_0, &gemm<Q5_0>};
constexpr TypeKernels kQ5_1{DType::kQ8_1, &convert_q8_1, &gemm<Q5_1>};
constexpr TypeKernels kQ2_K{DType::kQ8_K, &convert_q8_k, &gemm<Q2_K>};
constexpr TypeKernels kQ3_K{DType::kQ8_K, &convert_q8_k, &gemm<Q3_K>};
constexpr TypeKernels kQ4_K{DType::kQ8_K, &convert_q8_k, &gemm<Q4_K>};
constexpr TypeKernels kQ5_K{DType::kQ8_K, &convert_q8_k, &gemm<Q5_K>};
constexpr TypeKernels kQ6_K{DType::kQ8_K, &convert_q8_k, &gemm<Q6_K>};

constexpr TypeKernels kI8_CH{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadI8>>};
constexpr TypeKernels kI8_DYN{DType::kI8_ACT, &convert_i8_act, &gemm<I8DynKernel>};
constexpr TypeKernels kF16_S24{DType::kF32, &convert_f32, &gemm<S24Kernel>};
constexpr TypeKernels kQ4_G128{DType::kQ8_0, &convert_q8_0, &gemm<Q4Kernel<Q4G128Kernel<false>>>};
constexpr TypeKernels kQ4_G128Z{DType::kQ8_1, &convert_q8_1, &gemm<Q4Kernel<Q4G128Kernel<true>>>};

constexpr KernelSet kAvx2{"avx2",
                          {kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ6_K, kI8_CH, kI8_DYN,
                           kF16_S24, kQ4_G128, kQ4_G128Z, kQ5_0, kQ5_1, kQ2_K, kQ3_K, kQ5_K}};

}  // namespace

const KernelSet& avx2_table() { return kAvx2; }

}  // namespace joule::cpu
