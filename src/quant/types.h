// Tensor element types and quantized block layouts.
//
// The numeric ids are GGUF's (ggml_type) and are stable: they are written into files.
// Each quantized type stores `block_size` consecutive values of a row in one block struct; a row
// of n values (n a multiple of block_size) is n / block_size blocks, packed with no padding.
// The layouts match ggml's byte for byte (static_asserts below), so GGUF data is used in place.
//
// joule's own types (ids from 1024, far above ggml's, so they never collide with a future ggml
// type; llama.cpp cannot load files that use them) are per-output-channel: each row starts with a
// `row_header_bytes` header (RowHeaderI8) followed by its blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace joule {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
  // joule's own (see above).
  kI8_CH = 1024,   // int8 per output channel, f32 activations ("int8" weight-only)
  kI8_DYN = 1025,  // same layout; activations quantized to int8 per token at run time (W8A8)
  kI8_ACT = 1026,  // activation format of kI8_DYN (never stored in files)
  kF16_S24 = 1027, // 2:4 structured-sparse f16 (BlockF16S24), f32 activations
  kQ4_G128 = 1028,   // int4 groups of 128, f16 scale, symmetric (BlockQ4G128)
  kQ4_G128Z = 1029,  // int4 groups of 128, f16 scale and zero point (BlockQ4G128Z)
};

using f16_bits = uint16_t;   // IEEE binary16, stored as bits
using bf16_bits = uint16_t;  // bfloat16, stored as bits

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK8_1 = 32;
inline constexpr int kQK_K = 256;  // super-block size of the k-quants
inline constexpr int kKScaleBytes = 12;

// x = d * (q - 8), q in [0, 15]; byte j holds q[j] (low nibble) and q[j + 16] (high nibble).
struct BlockQ4_0 {
  f16_bits d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 2 + 16);

// x = d * q + m, q in [0, 15]; nibble order as Q4_0.
struct BlockQ4_1 {
  f16_bits d;
  f16_bits m;
  uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 4 + 16);

// x = d * (q - 16), q in [0, 31]: the low four bits in nibble order as Q4_0, bit 4 of q[j] in
// bit j of qh (little-endian).
struct BlockQ5_0 {
  f16_bits d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 2 + 4 + 16);

// x = d * q + m, q in [0, 31]; bits as Q5_0.
struct BlockQ5_1 {
  f16_bits d;
  f16_bits m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 4 + 4 + 16);

// q[j] in [0, 31] of a Q5_0 / Q5_1 block (for the scalar paths; the SIMD kernels unpack their own way).
template <class BlockQ5>
int q5_value(const BlockQ5& b, int j) {
  const int nibble = j < 16 ? b.qs[j] & 0x0F : b.qs[j - 16] >> 4;
  return nibble | ((b.qh[j / 8] >> (j % 8)) & 1) << 4;
}

// x = d * q, q in [-127, 127].
struct BlockQ8_0 {
  f16_bits d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 2 + 32);

// Activation format for Q4_1 dots: x = d * q, s = d * sum(q) (lets the min term be one multiply).
struct BlockQ8_1 {
  f16_bits d;
  f16_bits s;
  int8_t qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 4 + 32);

// The k-quants: super-blocks of 256 values whose sub-block scales are themselves quantized.
// Q2_K and Q3_K pack value v's low two bits in qs[32 (v / 128) + v % 32], at bit 2 ((v % 128) / 32):
// 32-byte chunks per 128 values, four 2-bit planes each (ggml's packing).

// 256 values in 16 groups of 16; scales[g] = sc | m << 4 (4 bits each); x = d * sc * q - dmin * m,
// q in [0, 3].
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  f16_bits d;
  f16_bits dmin;
};
static_assert(sizeof(BlockQ2_K) == 16 + 64 + 4);

// 256 values in 16 groups of 16; x = d * (sc - 32) * (q - 4), q in [0, 7]: low two bits in qs,
// bit 2 in hmask (value v: bit v / 32 of hmask[v % 32]); the 6-bit sc packed in `scales` (low
// nibbles in bytes 0..7, high bit pairs in bytes 8..11).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  f16_bits d;
};
static_assert(sizeof(BlockQ3_K) == 32 + 64 + 12 + 2);

// 256 values in 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in `scales`;
// x = d * sc * q - dmin * m. Byte j of each 32-byte chunk c holds sub-block 2c (low) and 2c+1 (high).
struct BlockQ4_K {
  f16_bits d;
  f16_bits dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 4 + 12 + 128);

// Q4_K with a fifth bit: q in [0, 31], bit 4 of value v in bit v / 32 of qh[v % 32].
struct BlockQ5_K {
  f16_bits d;
  f16_bits dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 4 + 12 + 32 + 128);

// 256 values in 16 sub-blocks of 16; x = d * scales[i] * (q - 32), q 6-bit (4 low bits in ql,
// 2 high bits in qh).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  f16_bits d;
};
static_assert(sizeof(BlockQ6_K) == 128 + 64 + 16 + 2);

// Values and scales of k-quant super-blocks by index, for the scalar paths (the SIMD kernels
// unpack their own way): value v in [0, 256), group g of 16 values, sub-block j of 32.
inline int k_two_bits(const uint8_t* qs, int v) {
  return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
}
inline int q2_k_value(const BlockQ2_K& b, int v) { return k_two_bits(b.qs, v); }  // [0, 3]
inline int q3_k_value(const BlockQ3_K& b, int v) {  // [-4, 3]
  return k_two_bits(b.qs, v) - (((b.hmask[v % 32] >> (v / 32)) & 1) ? 0 : 4);
}
inline int q3_k_scale(const BlockQ3_K& b, int g) {  // [-32, 31]
  const int low = g < 8 ? b.scales[g] & 0xF : b.scales[g - 8] >> 4;
  return (low | (((b.scales[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
}
// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (ggml's get_scale_min_k4).
inline void k4_scale_min(const uint8_t* s, int j, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j - 0] >> 6) << 4));
  }
}
inline int q4_k_value(const BlockQ4_K& b, int v) {  // [0, 15]
  return (b.qs[32 * (v / 64) + v % 32] >> (4 * ((v % 64) / 32))) & 0xF;
}
inline int q5_k_value(const BlockQ5_K& b, int v) {  // [0, 31]
  const int low = (b.qs[32 * (v / 64) + v % 32] >> (4 * ((v % 64) / 32))) & 0xF;
  return low | ((b.qh[v % 32] >> (v / 32)) & 1) << 4;
}

// Activation format for k-quant dots: float scale, 256 int8 values, sums of each 16.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 4 + 256 + 32);

// Header of each row of the per-channel int8 types (weights and activations alike): the row is
// x = scale * q with q in [-127, 127]; sum_q = sum of the row's q, which lets an unsigned x signed
// dot product (VNNI) correct for its offset in one multiply. Then n int8 values.
struct RowHeaderI8 {
  float scale;
  int32_t sum_q;
};
static_assert(sizeof(RowHeaderI8) == 8);
inline constexpr int kQKI8 = 32;  // rows of the int8 types are a multiple of this many values

// 2:4 structured sparsity: of every 4 consecutive weights 2 are zero. A block of 16 weights
// keeps the 8 others as f16, in order, and a mask with bit i set where weight i is kept (exactly
// two bits in each nibble). 18 bytes per 16 weights: 1.125 bytes a weight, against 2 for f16.
struct BlockF16S24 {
  uint16_t mask;
  f16_bits v[8];
};
static_assert(sizeof(BlockF16S24) == 2 + 16);
inline constexpr int kQKS24 = 16;

// Group-wise int4 with groups of 128 (one f16 scale, and for the Z form a zero point, per 128
// weights: 4.125 / 4.25 bits a weight against Q4_0's 4.5 / Q4_1's 5). The 64 nibble bytes are
// four Q4_0-style sub-blocks: bytes 16s..16s+15 hold q[32s + j] (low) and q[32s + j + 16] (high).
inline constexpr int kQKG128 = 128;
struct BlockQ4G128 {  // x = d * (q - 8)
  f16_bits d;
  uint8_t qs[kQKG128 / 2];
};
static_assert(sizeof(BlockQ4G128) == 2 + 64);
struct BlockQ4G128Z {  // x = d * q + m
  f16_bits d;
  f16_bits m;
  uint8_t qs[kQKG128 / 2];
};
static_assert(sizeof(BlockQ4G128Z) == 4 + 64);

struct DTypeTraits {
  DType type;
  std::string_view name;    // GGUF / ggml spelling: "f32", "q4_0", ...
  int block_size;           // values per block (1 for plain floats)
  size_t block_bytes;       // bytes per block
  bool quantized;
  size_t row_header_bytes;  // bytes before the first block of every row (joule's types only)
};

// Traits of a known type; nullopt for ids joule does not handle.
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const DTypeTraits& traits(DType t);  // for a DType value (always known)
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n values; n must be a multiple of the block size (checked by callers).
inline size_t row_bytes(DType t, int64_t n) {
  const DTypeTraits& tr = traits(t);
  return tr.row_header_bytes + static_cast<size_t>(n / tr.block_size) * tr.block_bytes;
}

}  // namespace joule
