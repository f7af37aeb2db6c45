// AVX-512 kernels (F, BW, VL, DQ, VNNI; F16C): compiled with JOULE_AVX512_FLAGS and only reached
// through avx512_kernels() after the CPU check. See kernels_internal.h for the linkage rules.
//
// Structure shared by every weight type:
//   * gemm() prepares the activations once per call (quantized types: a layout that matches the
//     weight registers, see ActQ8x4), then walks the output in tiles of R rows x T tokens.
//   * A tile keeps R x T accumulators in zmm registers for the whole dot-product length, so each
//     weight group loaded and unpacked is used T times and each activation group R times. Decode
//     (T = 1) streams every weight byte exactly once.
//   * Accumulators are reduced four at a time with a transpose-and-add (hsum4) and stored.
// Activation formats are those of the scalar table (kernels_scalar.cc), so every output agrees
// with the oracle up to float summation order.

#include "backend/cpu/intrinsics.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "backend/cpu/kernels_internal.h"
#include "backend/cpu/simd_avx512.h"

namespace joule::cpu {
namespace {

// ---- small helpers ----------------------------------------------------------------------------

float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

__m128i loadu128(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
__m256i loadu256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// 32 word indices for vpermw / vpermt2w, built at compile time.
struct alignas(64) WordIdx {
  uint16_t v[32];
  __m512i load() const { return _mm512_load_si512(v); }
};
template <class F>
constexpr WordIdx make_idx(F f) {
  WordIdx r{};
  for (int i = 0; i < 32; ++i) r.v[i] = static_cast<uint16_t>(f(i));
  return r;
}

// Sums acc[r][t] over lanes and stores out[t * ldo + r], r < R, t < T (four rows at a time).
template <int R, int T>
void store_tile(__m512 (&acc)[R][T], float* out, int64_t ldo) {
  static_assert(R <= 8);
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 2
    for (int r0 = 0; r0 < R; r0 += 4) {
      __m512 v[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                     _mm512_setzero_ps()};
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r)
        if (r0 + r < R) v[r] = acc[r0 + r][t];
      const __m128 sum = hsum4(v[0], v[1], v[2], v[3]);
      float* dst = out + t * ldo + r0;
      if (R - r0 >= 4)
        _mm_storeu_ps(dst, sum);
      else
        _mm_mask_storeu_ps(dst, static_cast<__mmask8>((1u << (R - r0)) - 1), sum);
    }
  }
}

// ---- the driver -------------------------------------------------------------------------------

#include "backend/cpu/kernels_driver.inc"

// ---- float weights (F32, F16, BF16) x F32 activations ----------------------------------------

// Weights are widened to f32 on load (F16: vcvtph2ps; BF16: zero-extend and shift left 16, which
// is exact) and multiplied with f32 activations by FMA: 16 multiply-adds per instruction, and no
// activation rounding (ggml rounds activations to the weight type instead).
// kHeader: bytes before a row's values; a loader with a header scales each row's sums by the
// float at the row's start (joule's per-channel int8). offset(k): where value k's group of 16
// starts, relative to the first value (kBytes * k for dense rows).
struct LoadF32 {
  static constexpr size_t kBytes = 4;
  static constexpr size_t offset(int64_t k) { return kBytes * static_cast<size_t>(k); }
  static constexpr size_t kHeader = 0;
  static __m512 load(const uint8_t* p) { return _mm512_loadu_ps(p); }
  static __m512 load(const uint8_t* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct LoadF16 {
  static constexpr size_t kBytes = 2;
  static constexpr size_t offset(int64_t k) { return kBytes * static_cast<size_t>(k); }
  static constexpr size_t kHeader = 0;
  static __m512 load(const uint8_t* p) { return _mm512_cvtph_ps(loadu256(p)); }
  static __m512 load(const uint8_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct LoadBF16 {
  static constexpr size_t kBytes = 2;
  static constexpr size_t offset(int64_t k) { return kBytes * static_cast<size_t>(k); }
  static constexpr size_t kHeader = 0;
  static __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 load(const uint8_t* p) { return widen(loadu256(p)); }
  static __m512 load(const uint8_t* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
};
// 2:4 sparse f16 (F16_S24): a block's 8 kept f16 values widen to f32 and vexpandps puts them at
// the mask's positions (zeros elsewhere); 18 bytes of weights per 16 values instead of 32.
struct LoadS24 {
  static constexpr size_t kHeader = 0;
  static constexpr size_t offset(int64_t k) { return sizeof(BlockF16S24) * static_cast<size_t>(k / 16); }
  static __m512 load(const uint8_t* p) {
    const __m256 kept = _mm256_cvtph_ps(loadu128(p + 2));
    return _mm512_maskz_expand_ps(static_cast<__mmask16>(load_u16(p)), _mm512_castps256_ps512(kept));
  }
  // Rows are whole blocks: FloatKernel's tail step never runs for this type.
  static __m512 load(const uint8_t* p, __mmask16 m) { return _mm512_maskz_mov_ps(m, load(p)); }
};
// Weight-only int8 (I8_CH): sign-extend and convert, exact.
struct LoadI8 {
  static constexpr size_t kBytes = 1;
  static constexpr size_t offset(int64_t k) { return kBytes * static_cast<size_t>(k); }
  static constexpr size_t kHeader = sizeof(RowHeaderI8);
  static __m512 load(const uint8_t* p) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(loadu128(p))); }
  static __m512 load(const uint8_t* p, __mmask16 m) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
  }
};

// 6 x 4 tiles: 24 accumulators, 4 activation and 1 weight registers (measured best of 4x4,
// 4x5, 4x6, 6x4, 8x3, 2x8 on 1536x576 x 128 tokens).
template <class L>
struct FloatKernel {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 6;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;

  template <int R, int T>
  static void tile(const Tile& p) {
    const uint8_t* w = p.w + L::kHeader;
    __m512 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    // Masked loads (zero fill, no fault) cover a tail of n % 16 values.
    auto step = [&](int64_t k, auto... mask) {
      __m512 x[T];
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) x[t] = LoadF32::load(p.a + t * p.as + 4 * k, mask...);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (T == 1) prefetch_ahead<L::offset(16), R>(p, r, w + r * p.ws + L::offset(k));
        const __m512 wv = L::load(w + r * p.ws + L::offset(k), mask...);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, x[t], acc[r][t]);
      }
    };
    int64_t k = 0;
    for (; k + 16 <= p.n; k += 16) step(k);
    if (k < p.n) step(k, static_cast<__mmask16>((1u << (p.n - k)) - 1));
    if constexpr (L::kHeader > 0) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        float scale;
        std::memcpy(&scale, p.w + r * p.ws, sizeof(scale));
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_mul_ps(acc[r][t], _mm512_set1_ps(scale));
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// ---- W8A8 per-channel int8 (I8_DYN weights x I8_ACT activations) -----------------------------
//
// vpdpbusd multiplies unsigned by signed bytes into int32 lanes, so each activation vector is
// offset to u = q + 128 (one XOR with 0x80, shared by the R rows of the tile) and the row's sum_q
// from its header takes the offset back out: sum(u w) - 128 sum(w) = sum(q w), exact in int32.
// 64 multiply-adds per instruction against 16 for f32 FMA. Rows are a multiple of 32 values; a
// final half vector is a masked load (zero weights contribute nothing).
struct I8DynKernel {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 6;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 8;

  template <int R, int T>
  static void tile(const Tile& p) {
    constexpr size_t kH = sizeof(RowHeaderI8);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512i acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_si512();
    auto step = [&](int64_t k, __mmask64 mask) {
      __m512i u[T];
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t)
        u[t] = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, p.a + t * p.as + kH + k), flip);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const uint8_t* wr = p.w + r * p.ws + kH + k;
        if constexpr (T == 1) prefetch_ahead<64, R>(p, r, wr);
        const __m512i wv = _mm512_maskz_loadu_epi8(mask, wr);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], u[t], wv);
      }
    };
    int64_t k = 0;
    for (; k + 64 <= p.n; k += 64) step(k, ~__mmask64{0});
    if (k < p.n) step(k, __mmask64{0xFFFFFFFF});  // n % 64 == 32
    RowHeaderI8 hw[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) std::memcpy(&hw[r], p.w + r * p.ws, kH);
#pragma GCC unroll 16
    for (int t = 0; t < T; ++t) {
      RowHeaderI8 ha;
      std::memcpy(&ha, p.a + t * p.as, kH);
#pragma GCC unroll 2
      for (int r0 = 0; r0 < R; r0 += 4) {
        __m512i v[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                        _mm512_setzero_si512()};
        int32_t offset[4] = {};
        float scale[4] = {};
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r)
          if (r0 + r < R) {
            v[r] = acc[r0 + r][t];
            offset[r] = 128 * hw[r0 + r].sum_q;
            scale[r] = hw[r0 + r].scale * ha.scale;
          }
        const __m128i sumi = _mm_sub_epi32(hsum4_epi32(v[0], v[1], v[2], v[3]),
                                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(offset)));
        const __m128 sum = _mm_mul_ps(_mm_cvtepi32_ps(sumi), _mm_loadu_ps(scale));
        float* dst = p.out + t * p.ldo + r0;
        if (R - r0 >= 4)
          _mm_storeu_ps(dst, sum);
        else
          _mm_mask_storeu_ps(dst, static_cast<__mmask8>((1u << (R - r0)) - 1), sum);
      }
    }
  }
};

// ---- 32-value blocks (Q4_0, Q5_0, Q5_1, Q8_0, g128) x Q8_0 / Q8_1 activations ---------------------------
//
// Groups of 4 blocks (128 values) are processed per step in "nibble order": zmm lane b (16 bytes)
// holds block b's values 0..15 in one register and values 16..31 in another. That is exactly
// what one AND (low nibbles) and one shift + AND (high nibbles) give for the 4 blocks' packed
// Q4 bytes, so 128 4-bit weights unpack in three instructions. The activations are rearranged
// into the same order once per call (prep), with each block's scale spread over its 4 int32
// lanes and a per-block integer correction, so the inner step is
//     s = corr + dpbusd(w_lo, a_lo) + dpbusd(w_hi, a_hi)   (u8 x s8 -> int32, 4 lanes per block)
//     acc += float(s) * (d_w * d_a)                        (per-lane block scales)

// One prepared group of 4 Q8_0 activation blocks.
struct alignas(64) ActQ8x4 {
  int8_t lo[64];     // lane b: values 0..15 of block b
  int8_t hi[64];     // lane b: values 16..31 of block b
  int32_t corr[16];  // lanes 4b..4b+3: kCorr * (partial sums of block b); they add up per block
  float d[16];       // lanes 4b..4b+3: block b's scale
};
constexpr int kGroup = 4;  // blocks per group
int64_t groups_of(int64_t n) { return (n / 32 + kGroup - 1) / kGroup; }

// Byte mask of the first `bytes` (<= 64) bytes.
__mmask64 first_bytes(int bytes) {
  return bytes >= 64 ? ~__mmask64{0} : (__mmask64{1} << bytes) - 1;
}

// A group of 4 blocks laid out as {f16 d; [f16 s;] int8 q[32]} (Q8_0: 34 bytes, q at 2;
// Q8_1: 36 bytes, q at 4), in nibble order, with the f16 scales spread over each block's lanes.
// A tail group (nb < 4 blocks) is read with masked loads, never past the row, and rearranged with
// word permutes; its missing blocks come out as zeros.
template <int kBytes, int kQs>
struct Q8Group {
  __m512i lo, hi;
  __m256i d;         // f16 x 16
  __m512i raw[2];    // bytes 0..63 and 64..127 of the group (zero past the row), for other fields
  // Word indices into the 128 bytes from the group start (two zmm; index >= 32 is the second).
  static constexpr WordIdx kScale =
      make_idx([](int i) { return i < 16 ? kBytes / 2 * (i / 4) : 0; });
  static constexpr WordIdx kLo =
      make_idx([](int i) { return (kBytes * (i / 8) + kQs) / 2 + i % 8; });
  static constexpr WordIdx kHi =
      make_idx([](int i) { return (kBytes * (i / 8) + kQs) / 2 + 8 + i % 8; });

  static Q8Group load(const uint8_t* p) {
    const uint8_t* q = p + kQs;
    __m512i lo = _mm512_castsi128_si512(loadu128(q));
    lo = _mm512_inserti32x4(lo, loadu128(q + kBytes), 1);
    lo = _mm512_inserti32x4(lo, loadu128(q + 2 * kBytes), 2);
    lo = _mm512_inserti32x4(lo, loadu128(q + 3 * kBytes), 3);
    __m512i hi = _mm512_castsi128_si512(loadu128(q + 16));
    hi = _mm512_inserti32x4(hi, loadu128(q + kBytes + 16), 1);
    hi = _mm512_inserti32x4(hi, loadu128(q + 2 * kBytes + 16), 2);
    hi = _mm512_inserti32x4(hi, loadu128(q + 3 * kBytes + 16), 3);
    const __m512i r0 = _mm512_loadu_si512(p);
    const __m512i r1 = _mm512_loadu_si512(p + 64);
    return Q8Group{lo, hi, scales(r0, r1), {r0, r1}};
  }
  static Q8Group load_tail(const uint8_t* p, int nb) {
    const int bytes = kBytes * nb;
    const __m512i r0 = _mm512_maskz_loadu_epi8(first_bytes(bytes), p);
    const __m512i r1 = bytes > 64 ? _mm512_maskz_loadu_epi8(first_bytes(bytes - 64), p + 64)
                                  : _mm512_setzero_si512();
    return Q8Group{_mm512_permutex2var_epi16(r0, kLo.load(), r1),
                   _mm512_permutex2var_epi16(r0, kHi.load(), r1), scales(r0, r1), {r0, r1}};
  }
  static __m256i scales(__m512i r0, __m512i r1) {
    return _mm512_castsi512_si256(_mm512_permutex2var_epi16(r0, kScale.load(), r1));
  }
};

using Q8_0Group = Q8Group<34, 2>;

// Per-lane sums of 8 int8 activations (4 from each half) of every block.
__m512i partial_sums(const __m512i lo, const __m512i hi) {
  const __m512i ones = _mm512_set1_epi8(1);
  return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
}

// Rearranges a Q8_0 row into ActQ8x4 groups (the last one zero-padded).
template <int kCorr>
void prep_q8_0(const uint8_t* a, int64_t n, uint8_t* dst) {
  auto* g = reinterpret_cast<ActQ8x4*>(dst);
  const int64_t nb = n / 32;
  for (int64_t i = 0; i < groups_of(n); ++i) {
    const uint8_t* p = a + 34 * kGroup * i;
    const int64_t left = nb - kGroup * i;
    const Q8_0Group q =
        left >= kGroup ? Q8_0Group::load(p) : Q8_0Group::load_tail(p, static_cast<int>(left));
    _mm512_store_si512(g[i].lo, q.lo);
    _mm512_store_si512(g[i].hi, q.hi);
    _mm512_store_si512(g[i].corr,
                       _mm512_mullo_epi32(partial_sums(q.lo, q.hi), _mm512_set1_epi32(kCorr)));
    _mm512_store_ps(g[i].d, _mm512_cvtph_ps(q.d));
  }
}

// Weights of one group. Tail groups (1..3 blocks at the end of a row) are read with masked loads
// and word permutes; their missing lanes meet zero activations.

// Q4_0: 18-byte blocks {f16 d; u8 qs[16]}; x = d * (q - 8). The dot uses q as u8 and the
// activation correction -8 * sum(a).
struct Q4_0Kernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;
  static constexpr int kBlockBytes = 18;
  static constexpr size_t kGroupBytes = kGroup * kBlockBytes;
  using Act = ActQ8x4;
  static size_t prep_bytes(int64_t n) { return groups_of(n) * sizeof(Act); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8_0<-8>(a, n, dst); }

  struct W {
    __m512i lo, hi;
    __m512 d;
  };
  static constexpr WordIdx kScale = make_idx([](int i) { return i < 16 ? 9 * (i / 4) : 0; });
  static constexpr WordIdx kQs = make_idx([](int i) { return 9 * (i / 8) + 1 + i % 8; });

  static W unpack(__m512i q, __m512i raw) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    return W{_mm512_and_si512(q, m4), _mm512_and_si512(_mm512_srli_epi16(q, 4), m4),
             _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(kScale.load(), raw)))};
  }
  static W load(const uint8_t* p) {
    __m512i q = _mm512_castsi128_si512(loadu128(p + 2));
    q = _mm512_inserti32x4(q, loadu128(p + 20), 1);
    q = _mm512_inserti32x4(q, loadu128(p + 38), 2);
    q = _mm512_inserti32x4(q, loadu128(p + 56), 3);
    return unpack(q, _mm512_loadu_si512(p));
  }
  static W load_tail(const uint8_t* p, int nb) {  // nb < 4 blocks: all within 64 bytes
    const __m512i raw = _mm512_maskz_loadu_epi8(first_bytes(kBlockBytes * nb), p);
    return unpack(_mm512_permutexvar_epi16(kQs.load(), raw), raw);
  }

  struct A {
    __m512i lo, hi, corr;
    __m512 d;
  };
  static A act(const Act& g) {
    return A{_mm512_load_si512(g.lo), _mm512_load_si512(g.hi), _mm512_load_si512(g.corr),
             _mm512_load_ps(g.d)};
  }
  static __m512 madd(const W& w, const A& a, __m512 acc) {
    __m512i s = _mm512_dpbusd_epi32(a.corr, w.lo, a.lo);
    s = _mm512_dpbusd_epi32(s, w.hi, a.hi);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(w.d, a.d), acc);
  }
};

// Q8_0: 34-byte blocks {f16 d; s8 qs[32]}. dpbusd needs an unsigned operand, so the weights are
// biased by 128 with one XOR (w + 128 as u8) and the bias comes back out through the activation
// correction -128 * sum(a); no sign juggling per product and no int16 saturation.
struct Q8_0Kernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;
  static constexpr int kBlockBytes = 34;
  static constexpr size_t kGroupBytes = kGroup * kBlockBytes;
  using Act = ActQ8x4;
  static size_t prep_bytes(int64_t n) { return groups_of(n) * sizeof(Act); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8_0<-128>(a, n, dst); }

  using W = Q4_0Kernel::W;  // lo, hi: w + 128 as u8 in nibble order; d: block scales
  static W finish(const Q8_0Group& q) {
    const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
    return W{_mm512_xor_si512(q.lo, bias), _mm512_xor_si512(q.hi, bias), _mm512_cvtph_ps(q.d)};
  }
  static W load(const uint8_t* p) { return finish(Q8_0Group::load(p)); }
  static W load_tail(const uint8_t* p, int nb) { return finish(Q8_0Group::load_tail(p, nb)); }

  using A = Q4_0Kernel::A;
  static A act(const Act& g) { return Q4_0Kernel::act(g); }
  static __m512 madd(const W& w, const A& a, __m512 acc) { return Q4_0Kernel::madd(w, a, acc); }
};

// int4 g128, symmetric: a 66-byte block {f16 d; u8 qs[64]} is one group, its nibble bytes
// already in the lane order above (lane b = sub-block b); Q4_0's arithmetic with one scale.
struct Q4G128Kernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;
  static constexpr size_t kGroupBytes = sizeof(BlockQ4G128);
  using Act = ActQ8x4;
  static size_t prep_bytes(int64_t n) { return groups_of(n) * sizeof(Act); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8_0<-8>(a, n, dst); }

  using W = Q4_0Kernel::W;
  static W unpack(__m512i q, float d) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    return W{_mm512_and_si512(q, m4), _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), _mm512_set1_ps(d)};
  }
  static W load(const uint8_t* p) { return unpack(_mm512_loadu_si512(p + 2), half_to_float(load_u16(p))); }
  static W load_tail(const uint8_t* p, int) { return load(p); }  // unused: rows are whole blocks

  using A = Q4_0Kernel::A;
  static A act(const Act& g) { return Q4_0Kernel::act(g); }
  static __m512 madd(const W& w, const A& a, __m512 acc) { return Q4_0Kernel::madd(w, a, acc); }
};

// int4 g128 with zero point: {f16 d; f16 m; u8 qs[64]}, x = d * q + m, against Q8_1
// activations: dot = sum_b d * d_b (q . a_b) + m * s_b. Prepared groups carry s_b in lane 4b.
struct alignas(64) ActQ8x4S {
  ActQ8x4 q;
  float s[16];  // lane 4b: block b's s = d_b * sum(a_b); other lanes 0
};
using Q8_1Group = Q8Group<36, 4>;

// Rearranges a Q8_1 row into ActQ8x4S groups (the last one zero-padded), with no correction.
void prep_q8_1_s(const uint8_t* a, int64_t n, uint8_t* dst) {
  // Word index of each block's s (bytes 2-3 of its 36) in lanes 4b; other lanes masked to 0.
  static constexpr WordIdx kS = make_idx([](int i) { return i < 16 ? 18 * (i / 4) + 1 : 0; });
  auto* g = reinterpret_cast<ActQ8x4S*>(dst);
  const int64_t nb = n / 32;
  for (int64_t i = 0; i < groups_of(n); ++i) {
    const uint8_t* p = a + 36 * kGroup * i;
    const int64_t left = nb - kGroup * i;
    const Q8_1Group q = left >= kGroup ? Q8_1Group::load(p) : Q8_1Group::load_tail(p, static_cast<int>(left));
    _mm512_store_si512(g[i].q.lo, q.lo);
    _mm512_store_si512(g[i].q.hi, q.hi);
    _mm512_store_si512(g[i].q.corr, _mm512_setzero_si512());
    _mm512_store_ps(g[i].q.d, _mm512_cvtph_ps(q.d));
    const __m512i s = _mm512_maskz_permutex2var_epi16(0x11111111, q.raw[0], kS.load(), q.raw[1]);
    _mm512_store_ps(g[i].s, _mm512_cvtph_ps(_mm512_castsi512_si256(s)));
  }
}

struct Q4G128ZKernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;
  static constexpr size_t kGroupBytes = sizeof(BlockQ4G128Z);
  using Act = ActQ8x4S;
  static size_t prep_bytes(int64_t n) { return groups_of(n) * sizeof(Act); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) { prep_q8_1_s(a, n, dst); }

  struct W {
    Q4_0Kernel::W q;
    __m512 m;
  };
  static W load(const uint8_t* p) {
    return W{Q4G128Kernel::unpack(_mm512_loadu_si512(p + 4), half_to_float(load_u16(p))),
             _mm512_set1_ps(half_to_float(load_u16(p + 2)))};
  }
  static W load_tail(const uint8_t* p, int) { return load(p); }  // unused: rows are whole blocks

  struct A {
    Q4_0Kernel::A q;
    __m512 s;
  };
  static A act(const Act& g) { return A{Q4_0Kernel::act(g.q), _mm512_load_ps(g.s)}; }
  static __m512 madd(const W& w, const A& a, __m512 acc) {
    return _mm512_fmadd_ps(w.m, a.s, Q4_0Kernel::madd(w.q, a.q, acc));
  }
};

// Q5_0 / Q5_1: 22-byte {f16 d; u8 qh[4]; u8 qs[16]} / 24-byte {f16 d, m; u8 qh[4]; u8 qs[16]}
// blocks: Q4's nibbles in the same lane order, plus bit 4 of value j from bit j of qh, added as
// 16 under a byte mask (lo: bits 0..15 of each block's qh, hi: bits 16..31). Q5_0's x = d (q - 16)
// uses the correction -16 sum(a); Q5_1's x = d q + m adds m s per block, as g128z does.
template <bool kMin>
struct Q5Kernel {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 6;
  static constexpr int kBlockBytes = kMin ? 24 : 22;
  static constexpr int kQh = kMin ? 4 : 2;  // offset of qh; qs follows it
  static constexpr size_t kGroupBytes = kGroup * kBlockBytes;
  using Act = std::conditional_t<kMin, ActQ8x4S, ActQ8x4>;
  static size_t prep_bytes(int64_t n) { return groups_of(n) * sizeof(Act); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) {
    if constexpr (kMin)
      prep_q8_1_s(a, n, dst);
    else
      prep_q8_0<-16>(a, n, dst);
  }

  struct W {
    Q4_0Kernel::W q;
    __m512 m;  // Q5_1: lanes 4b..4b+3 = block b's m
  };
  static W load(const uint8_t* p) {
    __m512i q = _mm512_castsi128_si512(loadu128(p + kQh + 4));
    q = _mm512_inserti32x4(q, loadu128(p + kBlockBytes + kQh + 4), 1);
    q = _mm512_inserti32x4(q, loadu128(p + 2 * kBlockBytes + kQh + 4), 2);
    q = _mm512_inserti32x4(q, loadu128(p + 3 * kBlockBytes + kQh + 4), 3);
    uint64_t lo_bits = 0, hi_bits = 0;
    float d[4], m[4] = {};
    for (int b = 0; b < 4; ++b) {
      uint32_t h;
      std::memcpy(&h, p + b * kBlockBytes + kQh, 4);
      lo_bits |= uint64_t(h & 0xFFFF) << (16 * b);
      hi_bits |= uint64_t(h >> 16) << (16 * b);
      d[b] = half_to_float(load_u16(p + b * kBlockBytes));
      if constexpr (kMin) m[b] = half_to_float(load_u16(p + b * kBlockBytes + 2));
    }
    const __m512i m4 = _mm512_set1_epi8(0x0F), b16 = _mm512_set1_epi8(0x10);
    const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    auto spread = [](const float (&v)[4]) {  // lanes 4b..4b+3 = v[b]
      return _mm512_set_ps(v[3], v[3], v[3], v[3], v[2], v[2], v[2], v[2], v[1], v[1], v[1], v[1], v[0], v[0],
                           v[0], v[0]);
    };
    return W{{_mm512_mask_add_epi8(lo, lo_bits, lo, b16), _mm512_mask_add_epi8(hi, hi_bits, hi, b16), spread(d)},
             spread(m)};
  }
  // 1..3 blocks at a row's end: copied after zero blocks' worth of padding (d = 0: no contribution).
  static W load_tail(const uint8_t* p, int nb) {
    uint8_t buf[kGroupBytes] = {};
    std::memcpy(buf, p, size_t(nb) * kBlockBytes);
    return load(buf);
  }

  using A = std::conditional_t<kMin, Q4G128ZKernel::A, Q4_0Kernel::A>;
  static A act(const Act& g) {
    if constexpr (kMin)
      return Q4G128ZKernel::act(g);
    else
      return Q4_0Kernel::act(g);
  }
  static __m512 madd(const W& w, const A& a, __m512 acc) {
    if constexpr (kMin)
      return _mm512_fmadd_ps(w.m, a.s, Q4_0Kernel::madd(w.q, a.q, acc));
    else
      return Q4_0Kernel::madd(w.q, a, acc);
  }
};

// The tile for the 32-block types: per group, unpack the R rows' weights, then for each token
// load its prepared group once and update the R accumulators. 4 x 4 measured best (of 4x3, 4x4,
// 3x4, 2x6, 2x4) even though the compiler spills a few accumulators to L1.
template <class K>
struct BlockKernel : K {
  template <int R, int T>
  static void tile(const Tile& p) {
    using Act = typename K::Act;
    __m512 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    auto step = [&](int64_t g, auto load_w) {
      constexpr size_t kGroupBytes = K::kGroupBytes;
      typename K::W w[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (T == 1) prefetch_ahead<kGroupBytes, R>(p, r, p.w + r * p.ws + g * kGroupBytes);
        w[r] = load_w(p.w + r * p.ws + g * kGroupBytes);
      }
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) {
        const typename K::A a = K::act(reinterpret_cast<const Act*>(p.a + t * p.as)[g]);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][t] = K::madd(w[r], a, acc[r][t]);
      }
    };
    const int64_t nb = p.n / 32;
    const int64_t full = nb / kGroup;
    for (int64_t g = 0; g < full; ++g) step(g, [](const uint8_t* q) { return K::load(q); });
    if (const int rem = static_cast<int>(nb % kGroup))
      step(full, [rem](const uint8_t* q) { return K::load_tail(q, rem); });
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// ---- Q4_1 x Q8_1 in ggml's float order ------------------------------------------------------
//
// Q4_1 is the default model's type, and its activations are rounded to 8 bits before every
// matmul, so a one-ulp difference in a matmul output can move a later activation a whole
// quantization step. This kernel therefore repeats ggml's x86 float arithmetic exactly
// (ggml_vec_dot_q4_1_q8_1): per block, 8 int32 lanes (lane l = values 4l..4l+3, from vpdpbusd)
// converted to float and accumulated with one FMA by d_w * d_a in block order; the m * s terms
// in their own FMA chain; the 8 lanes reduced as hsum_float_8 does, then the m * s sum added.
// Integer sums are exact, so only this float order matters.
//
// Layout: four rows per pair of registers. `lo` holds the low nibbles (values 0-15) of rows
// r..r+3 in its four 128-bit blocks, `hi` the high nibbles (values 16-31); against the
// activation's values 0-15 (16-31) broadcast to every block, vpdpbusd lane 4i+l of lo is ggml's
// lane l of row r+i, of hi its lane l+4.
struct Q4_1Exact {
  static constexpr bool kPrepared = true;
  static constexpr int kR = 4;
  static constexpr int kT = 4;
  static constexpr int kRDecode = 8;
  static constexpr int kW = 20;  // Q4_1 block bytes {f16 d, m; u8 qs[16]}

  // A prepared Q8_1 activation row: blocks in groups of 16, group = {float d[16]; float s[16];
  // int8 qs[16][32]}, so the scales of 16 blocks fill one cache line each and the values of a
  // block (0-15, then 16-31) are loaded with 128-bit broadcasts.
  static constexpr int kGroupBlocks = 16;
  static constexpr size_t kGroupBytes = 2 * 64 + 16 * 32;
  static size_t prep_bytes(int64_t n) { return size_t((n / 32 + kGroupBlocks - 1) / kGroupBlocks) * kGroupBytes; }
  static const uint8_t* group(const uint8_t* row, int64_t b) { return row + (b / kGroupBlocks) * kGroupBytes; }
  static float act_d(const uint8_t* row, int64_t b) {
    return reinterpret_cast<const float*>(group(row, b))[b % kGroupBlocks];
  }
  static float act_s(const uint8_t* row, int64_t b) {
    return reinterpret_cast<const float*>(group(row, b) + 64)[b % kGroupBlocks];
  }
  static const uint8_t* act_qs(const uint8_t* row, int64_t b) { return group(row, b) + 128 + 32 * (b % kGroupBlocks); }
  static void prep(const uint8_t* a, int64_t n, uint8_t* dst) {
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = a + 36 * b;  // {f16 d, s; s8 qs[32]}
      uint8_t* g = dst + (b / kGroupBlocks) * kGroupBytes;
      reinterpret_cast<float*>(g)[b % kGroupBlocks] = half_to_float(load_u16(blk));
      reinterpret_cast<float*>(g + 64)[b % kGroupBlocks] = half_to_float(load_u16(blk + 2));
      std::memcpy(g + 128 + 32 * (b % kGroupBlocks), blk + 4, 32);
    }
  }

  // The (f16 d, f16 m) words of 16 consecutive blocks of a row (n < 16 at a row's end): five
  // loads and three permutes (the words sit 5 dwords apart).
  static __m512i scale_words(const uint8_t* row, int n) {
    const int dwords = 5 * n;
    auto load = [&](int k) {
      const int left = dwords - 16 * k;
      if (left <= 0) return _mm512_setzero_si512();
      const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
      return _mm512_maskz_loadu_epi32(m, row + 64 * k);
    };
    const __m512i a = _mm512_permutex2var_epi32(load(0), _mm512_setr_epi32(0, 5, 10, 15, 20, 25, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0), load(1));
    const __m512i b = _mm512_permutex2var_epi32(load(2), _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 3, 8, 13, 18, 23, 28, 0, 0, 0), load(3));
    const __m512i c = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 6, 11), load(4));
    return _mm512_mask_blend_epi32(0xE000, _mm512_mask_blend_epi32(0x1F80, a, b), c);
  }

  // In-register transpose of 16 x 16 floats: x[i] lane j becomes x[j] lane i.
  static void transpose16(__m512 (&x)[16]) {
    __m512 t[16];
    for (int k = 0; k < 8; ++k) {  // 2 x 2 blocks of single floats
      t[2 * k] = _mm512_unpacklo_ps(x[2 * k], x[2 * k + 1]);
      t[2 * k + 1] = _mm512_unpackhi_ps(x[2 * k], x[2 * k + 1]);
    }
    for (int k = 0; k < 4; ++k) {  // 2 x 2 blocks of float pairs
      x[4 * k] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], _MM_SHUFFLE(1, 0, 1, 0));
      x[4 * k + 1] = _mm512_shuffle_ps(t[4 * k], t[4 * k + 2], _MM_SHUFFLE(3, 2, 3, 2));
      x[4 * k + 2] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], _MM_SHUFFLE(1, 0, 1, 0));
      x[4 * k + 3] = _mm512_shuffle_ps(t[4 * k + 1], t[4 * k + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 2; ++k)  // 2 x 2 blocks of 128-bit lanes
      for (int j = 0; j < 4; ++j) {
        t[8 * k + j] = _mm512_shuffle_f32x4(x[8 * k + j], x[8 * k + 4 + j], _MM_SHUFFLE(2, 0, 2, 0));
        t[8 * k + 4 + j] = _mm512_shuffle_f32x4(x[8 * k + j], x[8 * k + 4 + j], _MM_SHUFFLE(3, 1, 3, 1));
      }
    for (int j = 0; j < 8; ++j) {  // 2 x 2 blocks of 256-bit halves
      x[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], _MM_SHUFFLE(2, 0, 2, 0));
      x[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], _MM_SHUFFLE(3, 1, 3, 1));
    }
  }

  // d and m of rows 0..R-1 for blocks [b0, b0 + nb) as floats, block-major: dm[i * 16 + r] = d,
  // dm[i * 16 + 8 + r] = m (written with whole-vector stores, so the loads that follow forward).
  template <int R>
  static void row_scales(const Tile& p, int64_t b0, int nb, float* dm) {
    for (int i = 0; i < nb; i += 16) {
      const int n = std::min(16, nb - i);
      __m512 x[16];
      for (int r = 0; r < 8; ++r) {
        if (r < R) {
          const __m512i w = scale_words(p.w + r * p.ws + (b0 + i) * kW, n);
          x[r] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));
          x[8 + r] = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(w, 16)));
        } else {
          x[r] = x[8 + r] = _mm512_setzero_ps();
        }
      }
      transpose16(x);
      for (int j = 0; j < n; ++j) _mm512_store_ps(dm + 16 * (i + j), x[j]);
    }
  }

  template <int R, int T>
  static void tile(const Tile& p) {
    constexpr int kQuads = (R + 3) / 4;
    static_assert(R <= 8 && T <= 4 && R * T <= 16, "one m * s lane per (row, token)");
    // Lanes 4i..4i+3 take row 4q+i's scale (rows past R repeat the last one); the m * s chains
    // run in lane r * T + t.
    alignas(64) int32_t quad_of[2][16], row_of[16] = {}, tok_of[16] = {};
    for (int q = 0; q < 2; ++q)
      for (int l = 0; l < 16; ++l) quad_of[q][l] = std::min(4 * q + l / 4, R - 1);
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) row_of[r * T + t] = 8 + r, tok_of[r * T + t] = t;
    const __m512i m_idx = _mm512_load_si512(row_of), s_idx = _mm512_load_si512(tok_of);

    __m512 acc_lo[kQuads][T], acc_hi[kQuads][T];
#pragma GCC unroll 16
    for (int q = 0; q < kQuads; ++q)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc_lo[q][t] = acc_hi[q][t] = _mm512_setzero_ps();
    __m512 summs = _mm512_setzero_ps();
    constexpr int kChunk = 64;  // blocks per scale prepass
    alignas(64) float dm[16 * kChunk];
    const int64_t nb = p.n / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t b0 = 0; b0 < nb; b0 += kChunk) {
      const int nc = static_cast<int>(std::min<int64_t>(kChunk, nb - b0));
      row_scales<R>(p, b0, nc, dm);
      // Decode: each row's next chunk (after a row's last chunk, the next tile's first) is
      // prefetched while this one is computed, so memory and arithmetic overlap (prefetching
      // within this chunk would come too late: its prepass has already read every line).
      const uintptr_t next = reinterpret_cast<uintptr_t>(p.w) + (b0 + kChunk < nb ? (b0 + kChunk) * kW : R * p.ws);
      for (int i = 0; i < nc; ++i) {
        const int64_t b = b0 + i;
        if constexpr (T == 1) {
#pragma GCC unroll 8
          for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * p.ws + i * kW), _MM_HINT_T0);
        }
        const uint8_t* wb = p.w + b * kW;
        const __m512 scales = _mm512_load_ps(dm + 16 * i);  // d of rows 0..7, m of rows 0..7
        __m512 sv;
        if constexpr (T == 1) {
          sv = _mm512_set1_ps(act_s(p.a, b));
        } else {
          alignas(16) float st[4] = {};
#pragma GCC unroll 4
          for (int t = 0; t < T; ++t) st[t] = act_s(p.a + t * p.as, b);
          sv = _mm512_permutexvar_ps(s_idx, _mm512_castps128_ps512(_mm_load_ps(st)));
        }
        summs = _mm512_fmadd_ps(_mm512_permutexvar_ps(m_idx, scales), sv, summs);
        __m512i lo[kQuads], hi[kQuads];
        __m512 wd[kQuads];
#pragma GCC unroll 4
        for (int q = 0; q < kQuads; ++q) {
          const uint8_t* w[4];
#pragma GCC unroll 4
          for (int k = 0; k < 4; ++k) w[k] = wb + std::min(4 * q + k, R - 1) * p.ws + 4;
          __m512i v = _mm512_castsi128_si512(loadu128(w[0]));
          v = _mm512_inserti32x4(v, loadu128(w[1]), 1);
          v = _mm512_inserti32x4(v, loadu128(w[2]), 2);
          v = _mm512_inserti32x4(v, loadu128(w[3]), 3);
          lo[q] = _mm512_and_si512(v, m4);
          hi[q] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
          wd[q] = _mm512_permutexvar_ps(_mm512_load_si512(quad_of[q]), scales);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) {
          const uint8_t* a = p.a + t * p.as;
          const uint8_t* qa = act_qs(a, b);
          const __m512i alo = _mm512_broadcast_i32x4(loadu128(qa));
          const __m512i ahi = _mm512_broadcast_i32x4(loadu128(qa + 16));
          const __m512 da = _mm512_set1_ps(act_d(a, b));
#pragma GCC unroll 4
          for (int q = 0; q < kQuads; ++q) {
            const __m512 dd = _mm512_mul_ps(wd[q], da);
            const __m512 xlo = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo[q], alo));
            const __m512 xhi = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), hi[q], ahi));
            acc_lo[q][t] = _mm512_fmadd_ps(dd, xlo, acc_lo[q][t]);
            acc_hi[q][t] = _mm512_fmadd_ps(dd, xhi, acc_hi[q][t]);
          }
        }
      }
    }
    alignas(64) float ms[16];
    _mm512_store_ps(ms, summs);
#pragma GCC unroll 4
    for (int q = 0; q < kQuads; ++q)
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        // hsum_float_8 per row: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)), v0-3 in lo, v4-7 in hi.
        const __m512 a = _mm512_add_ps(acc_lo[q][t], acc_hi[q][t]);
        const __m512 c = _mm512_add_ps(a, _mm512_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
        alignas(64) float h[16];
        _mm512_store_ps(h, _mm512_add_ps(c, _mm512_movehdup_ps(c)));
#pragma GCC unroll 4
        for (int k = 0; k < 4; ++k) {
          const int r = 4 * q + k;
          if (r < R) p.out[t * p.ldo + r] = h[4 * k] + ms[r * T + t];
        }
      }
  }
};

// ---- k-quants (Q2_K .. Q6_K) x Q8_K activations ----------------------------------------------
//
// One super-block (256 values) per step, following ggml's AVX approach: weights are unpacked to
// u8 in activation order (64 per zmm), vpmaddubsw multiplies them with the Q8_K int8 values into
// int16 pairs, and vpdpwssd multiplies those by the (int16) sub-block scales while accumulating
// in int32. The per-sub-block offsets (Q4_K mins, Q6_K's -32) are applied with the activation's
// 16-value sums (bsums), so nothing is scaled per value in float. Activations are used in place.
// The unpacked weights of one row take ~11 registers, so the tile loops over rows inside a
// super-block and over T tokens for each row. Q2_K, Q3_K and Q5_K use the AVX2 set's kernels
// (kernels.cc): unpacked through kquants_unpack.inc into a buffer and loaded back as zmm, they
// measured 2-3x slower in decode than the AVX2 kernels on Zen 4 (576x1536, one token: q2_k 112 vs
// 34 us, q3_k 105 vs 63, q5_k 89 vs 50; 2026-12-06).

constexpr int kQ8KBytes = 4 + 256 + 32;  // sizeof(BlockQ8_K): f32 d, s8 qs[256], s16 bsums[16]

// vpmaddubsw over 64 values (chunk c) gives 32 int16 lanes, lane i covering values 2i and 2i + 1
// of 16-value group 4c + i / 8: these indices spread 16 per-group scales (Q6_K's) to those lanes.
constexpr WordIdx kGroupScale[4] = {
    make_idx([](int i) { return 0 + i / 8; }), make_idx([](int i) { return 4 + i / 8; }),
    make_idx([](int i) { return 8 + i / 8; }), make_idx([](int i) { return 12 + i / 8; })};

#include "backend/cpu/kquants_unpack.inc"

template <class K>
struct SuperBlockKernel : K {
  static constexpr bool kPrepared = false;
  static constexpr int kR = 4;
  static constexpr int kT = 8;
  static constexpr int kRDecode = 4;

  template <int R, int T>
  static void tile(const Tile& p) {
    __m512 acc[R][T];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < p.n / 256; ++b) {
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        if constexpr (T == 1) prefetch_ahead<K::kBlockBytes, R>(p, r, p.w + r * p.ws + b * K::kBlockBytes);
        const typename K::W w = K::load(p.w + r * p.ws + b * K::kBlockBytes);
#pragma GCC unroll 16
        for (int t = 0; t < T; ++t)
          acc[r][t] = K::madd(w, p.a + t * p.as + b * kQ8KBytes, acc[r][t]);
      }
    }
    store_tile<R, T>(acc, p.out, p.ldo);
  }
};

// Q4_K: 144-byte super-blocks {f16 d, dmin; u8 scales[12]; u8 qs[128]}; x = d sc_j q - dmin m_j
// per 32-value sub-block j; 32-byte chunk c of qs holds sub-block 2c (low nibbles) and 2c+1
// (high nibbles), so broadcasting a chunk to both zmm halves and shifting the upper half by 4
// gives 64 weights in activation order.
struct Q4_KBase {
  static constexpr int kBlockBytes = 144;
  struct W {
    __m512i q[4];   // chunk c: values 64c..64c+63 as u8
    __m512i sc[4];  // chunk c: int16 lanes 0..15 = sc_2c, 16..31 = sc_2c+1
    __m256i m;      // int16 [m0, m0, m1, m1, ..., m7, m7]: pairs with the 16 bsums
    __m512 d;
    __m256 dmin;
  };
  static constexpr WordIdx kScale[4] = {
      make_idx([](int i) { return 0 + i / 16; }), make_idx([](int i) { return 2 + i / 16; }),
      make_idx([](int i) { return 4 + i / 16; }), make_idx([](int i) { return 6 + i / 16; })};
  static constexpr WordIdx kMin = make_idx([](int i) { return 8 + (i % 16) / 2; });

  static W load(const uint8_t* p) {
    uint8_t u[16];  // 0..7 scales, 8..15 mins
    k4_scales_mins(p + 4, u);
    const __m512i s16 = _mm512_zextsi256_si512(
        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u))));
    W w;
    const __m512i shift = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m512i x = _mm512_broadcast_i64x4(loadu256(p + 16 + 32 * c));
      w.q[c] = _mm512_and_si512(_mm512_srlv_epi64(x, shift), m4);
      w.sc[c] = _mm512_permutexvar_epi16(kScale[c].load(), s16);
    }
    w.m = _mm512_castsi512_si256(_mm512_permutexvar_epi16(kMin.load(), s16));
    w.d = _mm512_set1_ps(half_to_float(load_u16(p)));
    w.dmin = _mm256_set1_ps(half_to_float(load_u16(p + 2)));
    return w;
  }
  // acc += da * (d * sum_j sc_j (q . qa)_j - dmin * sum_j m_j bsum_j)
  static __m512 madd(const W& w, const uint8_t* a, __m512 acc) {
    __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(w.q[c], _mm512_loadu_si512(a + 4 + 64 * c)),
                              w.sc[c]);
    const __m256i mins = _mm256_madd_epi16(w.m, loadu256(a + 260));
    const __m256 fm = _mm256_mul_ps(_mm256_cvtepi32_ps(mins), w.dmin);
    const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(s), w.d, _mm512_zextps256_ps512(fm));
    float da;
    std::memcpy(&da, a, 4);
    return _mm512_fmadd_ps(f, _mm512_set1_ps(da), acc);
  }
};

// Q6_K: 210-byte super-blocks {u8 ql[128]; u8 qh[64]; s8 scales[16]; f16 d};
// x = d sc_j (q - 32) per 16-value group j. Each 128-value half h has ql[64h..64h+63]: low
// nibbles = values 0..63, high nibbles = values 64..127; qh[32h + l] holds bits 4..5 of values
// l, l+32, l+64, l+96 in its bit pairs 0, 2, 4, 6. Broadcasting the 32 qh bytes to both zmm
// halves, one variable 64-bit shift per half lines the right pair up at bits 4..5 of every byte.
struct Q6_KBase {
  static constexpr int kBlockBytes = 210;
  struct W {
    __m512i q[4];   // values 64c..64c+63, 0..63 as u8
    __m512i sc[4];  // int16: lanes 8k..8k+7 = scale of group 4c + k
    __m256i m32;    // int16 -32 * sc_j, pairs with the 16 bsums
    __m512 d;
  };

  static W load(const uint8_t* p) {
    W w;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);  // values 0..31 | 32..63
    const __m512i shr = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);  // values 64..95 | 96..127
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(p + 64 * h);
      const __m512i qh = _mm512_broadcast_i64x4(loadu256(p + 128 + 32 * h));
      // q = (low bits) | (qh bits & 0x30): one ternary-logic op (a | (b & c) = 0xF8).
      w.q[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, m4), _mm512_sllv_epi64(qh, shl),
                                             m30, 0xF8);
      w.q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                 _mm512_srlv_epi64(qh, shr), m30, 0xF8);
    }
    const __m256i s16 = _mm256_cvtepi8_epi16(loadu128(p + 192));
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      w.sc[c] = _mm512_permutexvar_epi16(kGroupScale[c].load(), _mm512_zextsi256_si512(s16));
    w.m32 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s16, 5));
    w.d = _mm512_set1_ps(half_to_float(load_u16(p + 208)));
    return w;
  }
  // acc += d * da * sum_j sc_j ((q . qa)_j - 32 bsum_j)
  static __m512 madd(const W& w, const uint8_t* a, __m512 acc) {
    __m512i s = _mm512_zextsi256_si512(_mm256_madd_epi16(w.m32, loadu256(a + 260)));
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c)
      s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(w.q[c], _mm512_loadu_si512(a + 4 + 64 * c)),
                              w.sc[c]);
    float da;
    std::memcpy(&da, a, 4);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(w.d, _mm512_set1_ps(da)), acc);
  }
};

// ---- activation converters (bit-identical to quantize_row_ref) -------------------------------

void convert_f32(const float* x, void* out, int64_t n) {
  std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
}

// One 32-value block as for Q8_0 / Q8_1 activations, like ggml's x86 quantize_row_q8_*:
// q = nearest-even(x * (127 / amax)), d = amax / 127. Stores the 32 int8 values at q and
// returns d; *sum receives sum(q).
float quantize_block_q8(const float* x, uint8_t* q, int* sum) {
  const __m512 v0 = _mm512_loadu_ps(x);
  const __m512 v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  // vcvtps2dq rounds to nearest even (the default MXCSR mode).
  const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
  const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(q1));
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  return amax / 127.0f;
}

void store_half(uint8_t* p, float f) {
  const uint16_t h = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
  std::memcpy(p, &h, 2);
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

// I8_ACT: the whole row with one scale, q = nearest-even(x * (127 / amax)), d = amax / 127 and
// sum_q in the header (n is a multiple of 32).
void convert_i8_act(const float* x, void* out, int64_t n) {
  __m512 vmax = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k += 16) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
  const float amax = _mm512_reduce_max_ps(vmax);
  const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
  auto* q = static_cast<uint8_t*>(out) + sizeof(RowHeaderI8);
  __m512i vsum = _mm512_setzero_si512();
  for (int64_t k = 0; k < n; k += 16) {
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), id));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_cvtepi32_epi8(v));
    vsum = _mm512_add_epi32(vsum, v);
  }
  const RowHeaderI8 h{amax / 127.0f, _mm512_reduce_add_epi32(vsum)};
  std::memcpy(out, &h, sizeof(h));
}

// Q8_K: iscale = -127 / max (max = the first value of largest magnitude), q = min(127,
// nearest-even(iscale * x)), bsums = sums of each 16, d = 1 / iscale.
void convert_q8_k(const float* x, void* out, int64_t n) {
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < n / 256; ++b, x += 256, y += kQ8KBytes) {
    __m512 vmax = _mm512_setzero_ps();
    for (int j = 0; j < 256; j += 16)
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
      std::memset(y, 0, kQ8KBytes);
      continue;
    }
    float max = 0.0f;
    for (int j = 0; j < 256; j += 16) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)),
                                               _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit != 0) {
        max = x[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 is = _mm512_set1_ps(iscale);
    int16_t bsums[16];
    for (int j = 0; j < 16; ++j) {
      const __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * j), is),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + 4 + 16 * j), _mm512_cvtepi32_epi8(q));
      bsums[j] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    std::memcpy(y + 260, bsums, sizeof(bsums));
    const float d = 1 / iscale;
    std::memcpy(y, &d, 4);
  }
}

// ---- the table --------------------------------------------------------------------------------

using Q4_0 = BlockKernel<Q4_0Kernel>;
using Q4_1 = Q4_1Exact;
using Q8_0 = BlockKernel<Q8_0Kernel>;
using Q4_K = SuperBlockKernel<Q4_KBase>;
using Q6_K = SuperBlockKernel<Q6_KBase>;

constexpr TypeKernels kF32{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadF32>>};
constexpr TypeKernels kF16{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadF16>>};
constexpr TypeKernels kBF16{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadBF16>>};
constexpr TypeKernels kQ8_0{DType::kQ8_0, &convert_q8_0, &gemm<Q8_0>, &q8_0_packed_bytes, &pack_q8_0,
                            &gemm_q8_0_packed};
constexpr TypeKernels kQ4_0{DType::kQ8_0, &convert_q8_0, &gemm<Q4_0>};
constexpr TypeKernels kQ4_1{DType::kQ8_1, &convert_q8_1, &gemm<Q4_1>, &q4_1_packed_bytes, &pack_q4_1,
                            &gemm_q4_1_packed};
constexpr TypeKernels kQ4_K{DType::kQ8_K, &convert_q8_k, &gemm<Q4_K>};
constexpr TypeKernels kQ6_K{DType::kQ8_K, &convert_q8_k, &gemm<Q6_K>};

constexpr TypeKernels kI8_CH{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadI8>>};
// Prompts of 32 tokens or more go to AMX tiles where the CPU and OS allow it (kernels_amx.cc),
// the rest (and the last nt % 32 tokens) to the VNNI kernel.
void gemm_i8_dyn(int64_t n, const void* w, size_t ws, int nr, const void* a, size_t as, int nt,
                 float* out, int64_t ldo) {
  const int done = nt >= 32 && amx_ready() ? gemm_i8_amx(n, w, ws, nr, a, as, nt, out, ldo) : 0;
  if (done < nt)
    gemm<I8DynKernel>(n, w, ws, nr, static_cast<const uint8_t*>(a) + static_cast<size_t>(done) * as, as,
                      nt - done, out + done * ldo, ldo);
}

constexpr TypeKernels kI8_DYN{DType::kI8_ACT, &convert_i8_act, &gemm_i8_dyn};
constexpr TypeKernels kF16_S24{DType::kF32, &convert_f32, &gemm<FloatKernel<LoadS24>>};
constexpr TypeKernels kQ4_G128{DType::kQ8_0, &convert_q8_0, &gemm<BlockKernel<Q4G128Kernel>>};
constexpr TypeKernels kQ4_G128Z{DType::kQ8_1, &convert_q8_1, &gemm<BlockKernel<Q4G128ZKernel>>};
constexpr TypeKernels kQ5_0{DType::kQ8_0, &convert_q8_0, &gemm<BlockKernel<Q5Kernel<false>>>};
constexpr TypeKernels kQ5_1{DType::kQ8_1, &convert_q8_1, &gemm<BlockKernel<Q5Kernel<true>>>};

constexpr KernelSet kAvx512{"avx512",
                            {kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ6_K, kI8_CH, kI8_DYN,
                             kF16_S24, kQ4_G128, kQ4_G128Z, kQ5_0, kQ5_1,
                             /*q2_k, q3_k, q5_k: AVX2's (kernels.cc)*/ {}, {}, {}}};

}  // namespace

const KernelSet& avx512_table() { return kAvx512; }

}  // namespace joule::cpu
