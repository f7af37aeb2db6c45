// Scalar reference quantization, a transcription of ggml's *_ref algorithms (ggml-quants.c).
//
// Every float operation is written in ggml's order so results are bit-identical to ggml's
// reference path (up to fused multiply-add contraction, which ggml builds may apply and this
// file, compiled as ISO C++ for baseline x86-64, does not). Inputs must be finite.
#include "quant/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "quant/fp16.h"
#include "quant/reference_internal.h"

namespace joule {
namespace {

using ref::nearest_int;
using ref::signed_absmax;

// ---- 32-value blocks --------------------------------------------------------------------------

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  constexpr int qk = kQK4_0;
  for (int64_t i = 0; i < nb; ++i, x += qk) {
    const float d = signed_absmax(x, qk) / -8;  // the value of largest magnitude maps to -8
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[j] * id;
      const float x1 = x[qk / 2 + j] * id;
      const auto q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(x0 + 8.5f)));
      const auto q1 = static_cast<uint8_t>(std::min(15, static_cast<int>(x1 + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  constexpr int qk = kQK4_1;
  for (int64_t i = 0; i < nb; ++i, x += qk) {
    float min = x[0];
    float max = x[0];
    for (int j = 1; j < qk; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(min);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = (x[j] - min) * id;
      const float x1 = (x[qk / 2 + j] - min) * id;
      const auto q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(x0 + 0.5f)));
      const auto q1 = static_cast<uint8_t>(std::min(15, static_cast<int>(x1 + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

// Q5_0 / Q5_1: the low nibbles of q[j] and q[j + 16] share byte j; bit 4 of q[j] goes to bit j
// of qh (ggml's packing).
template <class Block>
void pack_q5(const uint8_t (&q)[32], Block& y) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    y.qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
    qh |= uint32_t((q[j] & 0x10u) >> 4) << j;
    qh |= uint32_t((q[j + 16] & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(y.qh, &qh, sizeof(qh));
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  constexpr int qk = kQK5_0;
  for (int64_t i = 0; i < nb; ++i, x += qk) {
    const float d = signed_absmax(x, qk) / -16;  // the value of largest magnitude maps to -16
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    uint8_t q[qk];
    for (int j = 0; j < qk; ++j) q[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(x[j] * id + 16.5f)));
    pack_q5(q, y[i]);
  }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb) {
  constexpr int qk = kQK5_1;
  for (int64_t i = 0; i < nb; ++i, x += qk) {
    float min = x[0];
    float max = x[0];
    for (int j = 1; j < qk; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / ((1 << 5) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(min);
    uint8_t q[qk];
    for (int j = 0; j < qk; ++j) q[j] = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    pack_q5(q, y[i]);
  }
}

// Shared by Q8_0 and Q8_1: d = amax / 127, q = round(x / d) (half away from zero); returns d.
float quantize_q8_block(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / ((1 << 7) - 1);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) q[j] = static_cast<int8_t>(std::round(x[j] * id));
  return d;
}

void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK8_0) y[i].d = f32_to_f16(quantize_q8_block(x, y[i].qs));
}

void quantize_q8_1(const float* x, BlockQ8_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK8_1) {
    const float d = quantize_q8_block(x, y[i].qs);
    int sum = 0;
    for (int j = 0; j < kQK8_1; ++j) sum += y[i].qs[j];
    y[i].d = f32_to_f16(d);
    y[i].s = f32_to_f16(static_cast<float>(sum) * d);
  }
}

// ---- dequantization (bit-exact with ggml's dequantize_row_*) ---------------------------------

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  constexpr int qk = kQK4_0;
  for (int64_t i = 0; i < nb; ++i, y += qk) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < qk / 2; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + qk / 2] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  constexpr int qk = kQK4_1;
  for (int64_t i = 0; i < nb; ++i, y += qk) {
    const float d = f16_to_f32(x[i].d);
    const float m = f16_to_f32(x[i].m);
    for (int j = 0; j < qk / 2; ++j) {
      y[j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[j + qk / 2] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(const BlockQ5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK5_0; ++j) y[j] = static_cast<float>(q5_value(x[i], j) - 16) * d;
  }
}

void dequantize_q5_1(const BlockQ5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
    const float d = f16_to_f32(x[i].d);
    const float m = f16_to_f32(x[i].m);
    for (int j = 0; j < kQK5_1; ++j) y[j] = static_cast<float>(q5_value(x[i], j)) * d + m;
  }
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void dequantize_q8_1(const BlockQ8_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK8_1) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK8_1; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

// Rows are accessed through the block structs, so they must be aligned to the struct (2 bytes;
// 4 for Q8_K): GGUF tensor data and joule's own buffers are.
// ---- joule's per-channel int8 rows --------------------------------------------------------------

// One scale for the whole row: q = round-to-even(x * 127 / amax), so the largest magnitude maps
// to +-127 (symmetric, as PyTorch's per-channel qint8 with the -128 code unused).
void quantize_i8_row(const float* x, void* y, int64_t n) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  RowHeaderI8 h{amax / 127.0f, 0};
  auto* q = static_cast<int8_t*>(y) + sizeof(RowHeaderI8);
  for (int64_t i = 0; i < n; ++i) {
    q[i] = static_cast<int8_t>(nearest_int(x[i] * id));
    h.sum_q += q[i];
  }
  std::memcpy(y, &h, sizeof(h));
}

void dequantize_i8_row(const void* x, float* y, int64_t n) {
  RowHeaderI8 h;
  std::memcpy(&h, x, sizeof(h));
  const auto* q = static_cast<const int8_t*>(x) + sizeof(RowHeaderI8);
  for (int64_t i = 0; i < n; ++i) y[i] = h.scale * static_cast<float>(q[i]);
}

// ---- int4 groups of 128 ---------------------------------------------------------------------------

// Q4_0's and Q4_1's rules over 128 values; nibbles packed per 32-value sub-block as Q4_0 packs
// a block. code(x) gives the 4-bit value of x.
template <class Code>
void pack_g128(const float* x, uint8_t* qs, Code code) {
  for (int s = 0; s < 4; ++s)
    for (int j = 0; j < 16; ++j)
      qs[16 * s + j] = static_cast<uint8_t>(code(x[32 * s + j]) | (code(x[32 * s + j + 16]) << 4));
}

void quantize_q4_g128(const float* x, BlockQ4G128* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKG128) {
    const float d = signed_absmax(x, kQKG128) / -8;  // as Q4_0
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    pack_g128(x, y[i].qs, [id](float v) { return std::min(15, static_cast<int>(v * id + 8.5f)); });
  }
}

void quantize_q4_g128z(const float* x, BlockQ4G128Z* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQKG128) {
    const auto [mn, mx] = std::minmax_element(x, x + kQKG128);
    const float min = *mn, d = (*mx - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_f16(d);
    y[i].m = f32_to_f16(min);
    pack_g128(x, y[i].qs, [id, min](float v) { return std::min(15, static_cast<int>((v - min) * id + 0.5f)); });
  }
}

// y[32s + j] = value(q[32s + j]) for the nibbles of one 128-value block.
template <class Value>
void unpack_g128(const uint8_t* qs, float* y, Value value) {
  for (int s = 0; s < 4; ++s)
    for (int j = 0; j < 16; ++j) {
      y[32 * s + j] = value(qs[16 * s + j] & 0x0F);
      y[32 * s + j + 16] = value(qs[16 * s + j] >> 4);
    }
}

void dequantize_q4_g128(const BlockQ4G128* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKG128) {
    const float d = f16_to_f32(x[i].d);
    unpack_g128(x[i].qs, y, [d](int q) { return static_cast<float>(q - 8) * d; });
  }
}

void dequantize_q4_g128z(const BlockQ4G128Z* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKG128) {
    const float d = f16_to_f32(x[i].d), m = f16_to_f32(x[i].m);
    unpack_g128(x[i].qs, y, [d, m](int q) { return static_cast<float>(q) * d + m; });
  }
}

// ---- 2:4 sparse f16 -----------------------------------------------------------------------------

// Magnitude pruning: in each group of 4 the two largest |x| stay (the earlier one on ties).
void quantize_f16_s24(const float* x, BlockF16S24* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += kQKS24) {
    y[b].mask = 0;
    int k = 0;
    for (int g = 0; g < kQKS24; g += 4) {
      int keep0 = g, keep1 = g + 1;  // positions of the largest and second largest |x|
      if (std::fabs(x[keep1]) > std::fabs(x[keep0])) std::swap(keep0, keep1);
      for (int i = g + 2; i < g + 4; ++i) {
        if (std::fabs(x[i]) > std::fabs(x[keep0])) {
          keep1 = keep0;
          keep0 = i;
        } else if (std::fabs(x[i]) > std::fabs(x[keep1])) {
          keep1 = i;
        }
      }
      y[b].mask = static_cast<uint16_t>(y[b].mask | (1u << keep0) | (1u << keep1));
      for (int i = g; i < g + 4; ++i)
        if (y[b].mask >> i & 1) y[b].v[k++] = f32_to_f16(x[i]);
    }
  }
}

void dequantize_f16_s24(const BlockF16S24* x, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, y += kQKS24) {
    int k = 0;
    for (int i = 0; i < kQKS24; ++i) y[i] = (x[b].mask >> i & 1) && k < 8 ? f16_to_f32(x[b].v[k++]) : 0.0f;
  }
}

template <class B>
B* blocks(void* p) {
  return static_cast<B*>(p);
}
template <class B>
const B* blocks(const void* p) {
  return static_cast<const B*>(p);
}

// 16-bit float rows (f16 or bf16, by the conversion given); memcpy because GGUF data is only
// 2-byte aligned at best.
template <uint16_t (*Convert)(float)>
void to_half(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = Convert(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

template <float (*Convert)(uint16_t)>
void from_half(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    y[i] = Convert(h);
  }
}

}  // namespace

void quantize_row_ref(DType t, const float* x, void* y, int64_t n) {
  const DTypeTraits& tr = traits(t);
  JOULE_CHECK(n % tr.block_size == 0);
  const int64_t nb = n / tr.block_size;
  switch (t) {
    case DType::kF32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kF16: return to_half<f32_to_f16>(x, y, n);
    case DType::kBF16: return to_half<f32_to_bf16>(x, y, n);
    case DType::kQ4_0: return quantize_q4_0(x, blocks<BlockQ4_0>(y), nb);
    case DType::kQ4_1: return quantize_q4_1(x, blocks<BlockQ4_1>(y), nb);
    case DType::kQ5_0: return quantize_q5_0(x, blocks<BlockQ5_0>(y), nb);
    case DType::kQ5_1: return quantize_q5_1(x, blocks<BlockQ5_1>(y), nb);
    case DType::kQ8_0: return quantize_q8_0(x, blocks<BlockQ8_0>(y), nb);
    case DType::kQ8_1: return quantize_q8_1(x, blocks<BlockQ8_1>(y), nb);
    case DType::kQ2_K: return ref::quantize_q2_k(x, blocks<BlockQ2_K>(y), nb);
    case DType::kQ3_K: return ref::quantize_q3_k(x, blocks<BlockQ3_K>(y), nb);
    case DType::kQ4_K: return ref::quantize_q4_k(x, blocks<BlockQ4_K>(y), nb);
    case DType::kQ5_K: return ref::quantize_q5_k(x, blocks<BlockQ5_K>(y), nb);
    case DType::kQ6_K: return ref::quantize_q6_k(x, blocks<BlockQ6_K>(y), nb);
    case DType::kQ8_K: return ref::quantize_q8_k(x, blocks<BlockQ8_K>(y), nb);
    case DType::kI8_CH:
    case DType::kI8_DYN:
    case DType::kI8_ACT: return quantize_i8_row(x, y, n);
    case DType::kF16_S24: return quantize_f16_s24(x, blocks<BlockF16S24>(y), nb);
    case DType::kQ4_G128: return quantize_q4_g128(x, blocks<BlockQ4G128>(y), nb);
    case DType::kQ4_G128Z: return quantize_q4_g128z(x, blocks<BlockQ4G128Z>(y), nb);
  }
  JOULE_CHECK(false && "quantize_row_ref: unhandled type");
}

void dequantize_row_ref(DType t, const void* x, float* y, int64_t n) {
  const DTypeTraits& tr = traits(t);
  JOULE_CHECK(n % tr.block_size == 0);
  const int64_t nb = n / tr.block_size;
  switch (t) {
    case DType::kF32: std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float)); return;
    case DType::kF16: return from_half<f16_to_f32>(x, y, n);
    case DType::kBF16: return from_half<bf16_to_f32>(x, y, n);
    case DType::kQ4_0: return dequantize_q4_0(blocks<BlockQ4_0>(x), y, nb);
    case DType::kQ4_1: return dequantize_q4_1(blocks<BlockQ4_1>(x), y, nb);
    case DType::kQ5_0: return dequantize_q5_0(blocks<BlockQ5_0>(x), y, nb);
    case DType::kQ5_1: return dequantize_q5_1(blocks<BlockQ5_1>(x), y, nb);
    case DType::kQ8_0: return dequantize_q8_0(blocks<BlockQ8_0>(x), y, nb);
    case DType::kQ8_1: return dequantize_q8_1(blocks<BlockQ8_1>(x), y, nb);
    case DType::kQ2_K: return ref::dequantize_q2_k(blocks<BlockQ2_K>(x), y, nb);
    case DType::kQ3_K: return ref::dequantize_q3_k(blocks<BlockQ3_K>(x), y, nb);
    case DType::kQ4_K: return ref::dequantize_q4_k(blocks<BlockQ4_K>(x), y, nb);
    case DType::kQ5_K: return ref::dequantize_q5_k(blocks<BlockQ5_K>(x), y, nb);
    case DType::kQ6_K: return ref::dequantize_q6_k(blocks<BlockQ6_K>(x), y, nb);
    case DType::kQ8_K: return ref::dequantize_q8_k(blocks<BlockQ8_K>(x), y, nb);
    case DType::kI8_CH:
    case DType::kI8_DYN:
    case DType::kI8_ACT: return dequantize_i8_row(x, y, n);
    case DType::kF16_S24: return dequantize_f16_s24(blocks<BlockF16S24>(x), y, nb);
    case DType::kQ4_G128: return dequantize_q4_g128(blocks<BlockQ4G128>(x), y, nb);
    case DType::kQ4_G128Z: return dequantize_q4_g128z(blocks<BlockQ4G128Z>(x), y, nb);
  }
  JOULE_CHECK(false && "dequantize_row_ref: unhandled type");
}

void requantize_row_ref(DType from, const void* x, DType to, void* y, int64_t n, float* scratch) {
  dequantize_row_ref(from, x, scratch, n);
  quantize_row_ref(to, scratch, y, n);
}

}  // namespace joule
