// The scalar reference kernels: the oracle every SIMD table is tested against.
//
// Activation formats (shared by every table, so their outputs are comparable):
//   F32, F16, BF16 weights -> F32 activations: weights widen exactly to f32 and the activations
//     are not rounded (ggml rounds them to F16 / BF16; this is more accurate and, with the
//     conversion on the weight side only, no slower); f32 accumulation;
//   Q8_0, Q4_0, Q5_0 -> Q8_0; Q4_1, Q5_1 -> Q8_1; the k-quants (Q2_K..Q6_K) -> Q8_K (as ggml);
//   I8_CH -> F32 (weight-only int8); I8_DYN -> I8_ACT (the whole row quantized with one scale);
//   F16_S24 -> F32; Q4_G128 -> Q8_0, Q4_G128Z -> Q8_1.
// Each gemm is a plain loop of dot products; quantized dots sum each block in int32 and scale it
// in float, like ggml's generic ggml_vec_dot_* code.
#include <algorithm>
#include <type_traits>
#include <cmath>
#include <cstring>

#include "backend/cpu/kernels_internal.h"
#include "quant/fp16.h"
#include "quant/reference.h"

namespace joule::cpu {
namespace {

using DotFn = float (*)(int64_t n, const void* w, const void* a);

// ggml's hsum_float_8: (upper half + lower half), then pairs, then the last two.
float hsum8_ggml(const float (&v)[8]) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

float dot_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

template <float (*kToF32)(uint16_t)>
float dot_half(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint8_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, x + 2 * i, 2);
    sum += kToF32(h) * y[i];
  }
  return sum;
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      sumi += ((x[b].qs[j] & 0x0F) - 8) * y[b].qs[j];
      sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kQK4_0 / 2];
    }
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

// In ggml's x86 order (ggml_vec_dot_q4_1_q8_1, AVX2 path), so that float rounding matches
// llama.cpp's: 8 lanes, lane l holding the int32 sum of values 4l..4l+3 of each block, one FMA
// per block per lane in block order; the m * s terms in one FMA chain of their own; the lanes
// reduced as hsum_float_8 does. The Q8 activations downstream amplify any one-ulp difference.
float dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float acc[8] = {};
  float summs = 0.0f;
  for (int64_t b = 0; b < n / kQK4_1; ++b) {
    const float d = f16_to_f32(x[b].d) * f16_to_f32(y[b].d);
    summs = std::fma(f16_to_f32(x[b].m), f16_to_f32(y[b].s), summs);
    for (int l = 0; l < 8; ++l) {
      int sumi = 0;
      for (int k = 4 * l; k < 4 * l + 4; ++k) {
        const int q = k < 16 ? x[b].qs[k] & 0x0F : x[b].qs[k - 16] >> 4;
        sumi += q * y[b].qs[k];
      }
      acc[l] = std::fma(d, static_cast<float>(sumi), acc[l]);
    }
  }
  return hsum8_ggml(acc) + summs;
}

// Q5_0 / Q5_1 in ggml's scalar order: an int sum per block, scaled by d_w * d_a (Q5_1: plus m * s).
float dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK5_0; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK5_0; ++j) sumi += (q5_value(x[b], j) - 16) * y[b].qs[j];
    sum += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(sumi);
  }
  return sum;
}

float dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK5_1; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK5_1; ++j) sumi += q5_value(x[b], j) * y[b].qs[j];
    sum += (f16_to_f32(x[b].d) * f16_to_f32(y[b].d)) * static_cast<float>(sumi) +
           f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
  }
  return sum;
}

float dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK8_0; ++j) sumi += x[b].qs[j] * y[b].qs[j];
    sum += static_cast<float>(sumi) * (f16_to_f32(x[b].d) * f16_to_f32(y[b].d));
  }
  return sum;
}

// The k-quants with a scale and a min per sub-block (Q2_K: groups of 16, 4-bit; Q4_K, Q5_K:
// sub-blocks of 32, 6-bit): x = d sc_j q - dmin m_j, so
//   dot = d da sum_j sc_j (q . qa)_j - dmin da sum_j m_j (sum of qa over sub-block j, from bsums).
template <class Block, int kSub>
float dot_k_scale_min(int64_t n, const void* w, const void* a, int (*value)(const Block&, int),
                      void (*scale_min)(const Block&, int, uint8_t*, uint8_t*)) {
  const auto* x = static_cast<const Block*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int sumi = 0, summ = 0;
    for (int j = 0; j < kQK_K / kSub; ++j) {
      uint8_t sc, m;
      scale_min(x[b], j, &sc, &m);
      int dot = 0, bsum = 0;
      for (int l = kSub * j; l < kSub * (j + 1); ++l) dot += value(x[b], l) * y[b].qs[l];
      for (int g = kSub / 16 * j; g < kSub / 16 * (j + 1); ++g) bsum += y[b].bsums[g];
      sumi += sc * dot;
      summ += m * bsum;
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(sumi) -
           f16_to_f32(x[b].dmin) * y[b].d * static_cast<float>(summ);
  }
  return sum;
}

void q2_k_scale_min(const BlockQ2_K& b, int g, uint8_t* sc, uint8_t* m) {
  *sc = b.scales[g] & 0xF;
  *m = b.scales[g] >> 4;
}
template <class Block>
void k4_block_scale_min(const Block& b, int j, uint8_t* sc, uint8_t* m) {
  k4_scale_min(b.scales, j, sc, m);
}

float dot_q2_k(int64_t n, const void* w, const void* a) {
  return dot_k_scale_min<BlockQ2_K, 16>(n, w, a, q2_k_value, q2_k_scale_min);
}
float dot_q4_k(int64_t n, const void* w, const void* a) {
  return dot_k_scale_min<BlockQ4_K, 32>(n, w, a, q4_k_value, k4_block_scale_min<BlockQ4_K>);
}
float dot_q5_k(int64_t n, const void* w, const void* a) {
  return dot_k_scale_min<BlockQ5_K, 32>(n, w, a, q5_k_value, k4_block_scale_min<BlockQ5_K>);
}

// x = d sc_g q per 16-value group g, sc in [-32, 31], q in [-4, 3]: dot = d da sum_g sc_g (q . qa)_g.
float dot_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int sumi = 0;
    for (int g = 0; g < kQK_K / 16; ++g) {
      int dot = 0;
      for (int l = 16 * g; l < 16 * (g + 1); ++l) dot += q3_k_value(x[b], l) * y[b].qs[l];
      sumi += q3_k_scale(x[b], g) * dot;
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(sumi);
  }
  return sum;
}

// x = d sc_j (q - 32) per 16-value group j (q 6-bit: low 4 bits in ql, high 2 in qh):
//   dot = d da sum_j sc_j ((q . qa)_j - 32 bsums[j]).
float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    int q[kQK_K];
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = x[b].ql + 64 * h;
      const uint8_t* qh = x[b].qh + 32 * h;
      int* o = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        o[l + 0] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        o[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        o[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        o[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    int sumi = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      int dot = 0;
      for (int l = 0; l < 16; ++l) dot += q[16 * j + l] * y[b].qs[16 * j + l];
      sumi += x[b].scales[j] * (dot - 32 * y[b].bsums[j]);
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(sumi);
  }
  return sum;
}

RowHeaderI8 i8_header(const void* row) {
  RowHeaderI8 h;
  std::memcpy(&h, row, sizeof(h));
  return h;
}
const int8_t* i8_values(const void* row) {
  return static_cast<const int8_t*>(row) + sizeof(RowHeaderI8);
}

// Weight-only int8: the weights widen exactly to f32; the row scale multiplies the sum once.
float dot_i8_ch(int64_t n, const void* w, const void* a) {
  const int8_t* q = i8_values(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<float>(q[i]) * y[i];
  return i8_header(w).scale * sum;
}

// W8A8: one int32 sum over the row (|q| <= 127, so exact for n <= 2^17), scaled once.
float dot_i8_dyn(int64_t n, const void* w, const void* a) {
  const int8_t* qw = i8_values(w);
  const int8_t* qa = i8_values(a);
  int32_t sumi = 0;
  for (int64_t i = 0; i < n; ++i) sumi += qw[i] * qa[i];
  return static_cast<float>(sumi) * (i8_header(w).scale * i8_header(a).scale);
}

// int4 g128 x Q8_0 (symmetric) / Q8_1 (zero point): 4 sub-blocks of 32 per weight block, each
// summed in int32 against its activation block and scaled by d_w * d_a; the zero point adds
// m * s_a per activation block.
template <bool kZero>
float dot_q4_g128(int64_t n, const void* w, const void* a) {
  using WB = std::conditional_t<kZero, BlockQ4G128Z, BlockQ4G128>;
  using AB = std::conditional_t<kZero, BlockQ8_1, BlockQ8_0>;
  const auto* x = static_cast<const WB*>(w);
  const auto* y = static_cast<const AB*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQKG128; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int s = 0; s < 4; ++s) {
      const AB& ya = y[4 * b + s];
      int sumi = 0;
      for (int j = 0; j < 16; ++j) {
        const int q0 = x[b].qs[16 * s + j] & 0x0F, q1 = x[b].qs[16 * s + j] >> 4;
        sumi += (kZero ? q0 : q0 - 8) * ya.qs[j] + (kZero ? q1 : q1 - 8) * ya.qs[j + 16];
      }
      sum += static_cast<float>(sumi) * (d * f16_to_f32(ya.d));
      if constexpr (kZero) sum += f16_to_f32(x[b].m) * f16_to_f32(ya.s);
    }
  }
  return sum;
}

// 2:4 sparse f16: each block dequantized (zeros where pruned), then a plain dot.
float dot_f16_s24(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockF16S24*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  float v[kQKS24];
  for (int64_t b = 0; b < n / kQKS24; ++b) {
    dequantize_row_ref(DType::kF16_S24, &x[b], v, kQKS24);
    for (int i = 0; i < kQKS24; ++i) sum += v[i] * y[b * kQKS24 + i];
  }
  return sum;
}

template <DotFn kDot>
void gemm(int64_t n, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride, int nt,
          float* out, int64_t ldo) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(a);
  for (int t = 0; t < nt; ++t)
    for (int r = 0; r < nr; ++r) out[t * ldo + r] = kDot(n, wb + r * w_stride, ab + t * a_stride);
}

template <DType kAct>
void convert(const float* x, void* out, int64_t n) {
  quantize_row_ref(kAct, x, out, n);
}

// Q8_0 / Q8_1 activations as ggml makes them at run time on x86 (quantize_row_q8_0/_q8_1 in
// arch/x86/quants.c), which differs from its reference in two roundings: the scale is
// id = 127 / amax (not 1 / (amax / 127)) and values round to nearest even (not half away).
// d = amax / 127 and, for Q8_1, s = d * sum(q), as in the reference. Returns d; sum(q) in *sum.
float q8_act_block(const float* x, int8_t* q, int* sum) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  *sum = 0;
  for (int j = 0; j < 32; ++j) {
    q[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));  // default rounding: nearest even
    *sum += q[j];
  }
  return amax / 127.0f;
}

void convert_q8_0_act(const float* x, void* out, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(out);
  int sum;
  for (int64_t b = 0; b < n / 32; ++b) y[b].d = f32_to_f16(q8_act_block(x + 32 * b, y[b].qs, &sum));
}

void convert_q8_1_act(const float* x, void* out, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(out);
  for (int64_t b = 0; b < n / 32; ++b) {
    int sum;
    const float d = q8_act_block(x + 32 * b, y[b].qs, &sum);
    y[b].d = f32_to_f16(d);
    y[b].s = f32_to_f16(d * static_cast<float>(sum));
  }
}

template <DType kAct, DotFn kDot>
constexpr TypeKernels entry() {
  return TypeKernels{kAct, &convert<kAct>, &gemm<kDot>};
}

constexpr TypeKernels kF32 = entry<DType::kF32, dot_f32>();
constexpr TypeKernels kF16 = entry<DType::kF32, dot_half<f16_to_f32>>();
constexpr TypeKernels kBF16 = entry<DType::kF32, dot_half<bf16_to_f32>>();
constexpr TypeKernels kQ8_0{DType::kQ8_0, &convert_q8_0_act, &gemm<dot_q8_0>};
constexpr TypeKernels kQ4_0{DType::kQ8_0, &convert_q8_0_act, &gemm<dot_q4_0>};
constexpr TypeKernels kQ4_1{DType::kQ8_1, &convert_q8_1_act, &gemm<dot_q4_1>};
constexpr TypeKernels kQ5_0{DType::kQ8_0, &convert_q8_0_act, &gemm<dot_q5_0>};
constexpr TypeKernels kQ5_1{DType::kQ8_1, &convert_q8_1_act, &gemm<dot_q5_1>};
constexpr TypeKernels kQ2_K = entry<DType::kQ8_K, dot_q2_k>();
constexpr TypeKernels kQ3_K = entry<DType::kQ8_K, dot_q3_k>();
constexpr TypeKernels kQ4_K = entry<DType::kQ8_K, dot_q4_k>();
constexpr TypeKernels kQ5_K = entry<DType::kQ8_K, dot_q5_k>();
constexpr TypeKernels kQ6_K = entry<DType::kQ8_K, dot_q6_k>();
constexpr TypeKernels kI8_CH = entry<DType::kF32, dot_i8_ch>();
constexpr TypeKernels kI8_DYN = entry<DType::kI8_ACT, dot_i8_dyn>();
constexpr TypeKernels kF16_S24 = entry<DType::kF32, dot_f16_s24>();
constexpr TypeKernels kQ4_G128{DType::kQ8_0, &convert_q8_0_act, &gemm<dot_q4_g128<false>>};
constexpr TypeKernels kQ4_G128Z{DType::kQ8_1, &convert_q8_1_act, &gemm<dot_q4_g128<true>>};

constexpr KernelSet kScalar{"scalar",
                            {kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ4_K, kQ6_K, kI8_CH, kI8_DYN,
                             kF16_S24, kQ4_G128, kQ4_G128Z, kQ5_0, kQ5_1, kQ2_K, kQ3_K, kQ5_K}};

}  // namespace

const KernelSet& scalar_table() { return kScalar; }


}  // namespace joule::cpu
