// Element-wise and normalisation ops of the transformer, f32 on the CPU.
// These are O(d) per token (the matmuls are O(d^2)), so plain loops the compiler vectorises are
// enough; each is its own scalar reference. The exceptions are SiLU and log-sum-exp, whose exp
// per element costs more than the loop the compiler can make of it, and RoPE, whose fused
// multiply-adds are library calls on the baseline ISA: they have AVX-512 variants (ops_avx512.cc).
#pragma once

#include <cstdint>

namespace joule::cpu {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]; out may alias x.
void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* out);

// LayerNorm: out[i] = (x[i] - mean) / sqrt(var + eps) * w[i] + b[i]; out may alias x.
void layernorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out);

enum class RopePairs { kAdjacent, kHalves };  // (2i, 2i+1) as llama GGUF, or (i, i + dim/2)

struct RopeParams {
  int head_dim = 0;
  int rope_dim = 0;  // leading dimensions of each head that rotate
  float theta = 10000.0f;
  float freq_scale = 1.0f;
  const float* freq_factors = nullptr;  // optional, rope_dim / 2 divisors of the frequencies
  RopePairs pairs = RopePairs::kAdjacent;
};

// cos/sin of each rotated pair's angle at position `pos` (rope_dim / 2 values each). Computed
// once per token and shared by every layer, since the transcendental calls dominate otherwise.
void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out);

// Rotates n_heads consecutive heads of x (each head_dim values) by precomputed angles.
void rope_apply(float* x, int n_heads, const float* cos_v, const float* sin_v, const RopeParams& p);
void rope_apply_avx512(float* x, int n_heads, const float* cos_v, const float* sin_v,
                       const RopeParams& p);  // ops_avx512.cc; equal bit for bit
using RopeApplyFn = void (*)(float* x, int n_heads, const float* cos_v, const float* sin_v, const RopeParams& p);
RopeApplyFn best_rope_apply();  // as best_silu_mul

// In-place softmax over n values.
void softmax(float* x, int64_t n);

// gate[i] = silu(gate[i]) * up[i]
void silu_mul(float* gate, const float* up, int64_t n);
void silu_mul_avx512(float* gate, const float* up, int64_t n);  // ops_avx512.cc

// gate[i] = gelu(gate[i]) * up[i] with the tanh GELU as ggml computes it on the CPU: looked up
// in a table of f16 inputs (ggml's GGML_GELU_FP16), 0 below -10 and the identity above 10.
void gelu_tanh_mul(float* gate, const float* up, int64_t n);
// x[i] = gelu(x[i]), the same GELU (a feed-forward without a gate: bloom).
void gelu_tanh(float* x, int64_t n);

using SiluMulFn = void (*)(float* gate, const float* up, int64_t n);
// The fastest variant for this CPU (follows best_kernels(), so JOULE_ISA caps it).
SiluMulFn best_silu_mul();

// The largest of n values (the first, on ties), its index, and log(sum_i exp(x[i])): what a
// log-probability over a vocabulary needs. The scalar version sums exp in double; the AVX-512
// one sums float exps in 16 lanes per 1,024 values and those partial sums in double (relative
// difference below 1e-6 on vocabulary-sized inputs, tested), about 50x faster.
struct LogSumExp {
  float max = 0;
  int64_t argmax = 0;
  double lse = 0;
};
LogSumExp log_sum_exp(const float* x, int64_t n);
LogSumExp log_sum_exp_avx512(const float* x, int64_t n);  // ops_avx512.cc
using LogSumExpFn = LogSumExp (*)(const float* x, int64_t n);
LogSumExpFn best_log_sum_exp();

// y[i] += x[i]
void add_inplace(float* y, const float* x, int64_t n);

}  // namespace joule::cpu
