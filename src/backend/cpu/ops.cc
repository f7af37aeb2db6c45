#include "backend/cpu/ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/kernels.h"
#include "quant/fp16.h"

namespace joule::cpu {

void rmsnorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  // ggml's exact arithmetic: squares in float, summed in double, then mean and scale in float.
  // Q8 activations are rounded from these values, so a scale one ulp off moves some of them a
  // whole quantization step; matching it keeps joule on llama.cpp's side of those roundings.
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum_sq / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void layernorm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out) {
  // ggml_norm (sums in double as ggml_vec_sum_f32 does; its centred variance sums per SIMD lane,
  // so the last bits can differ), then the weight and the bias as separate ops.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] - mean;
    sum_sq += static_cast<double>(v * v);
  }
  const float variance = static_cast<float>(sum_sq / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(variance + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - mean) * scale * w[i] + b[i];
}

void rope_angles(int64_t pos, const RopeParams& p, float* cos_out, float* sin_out) {
  // The angle of pair i is pos * base^(-2i/rope_dim). Like ggml, build base^(-2i/rope_dim) by
  // repeated multiplication in float, so positions get the same rounding as llama.cpp's.
  const float theta_scale = std::pow(p.theta, -2.0f / p.rope_dim);
  float theta = static_cast<float>(pos);
  for (int i = 0; i < p.rope_dim / 2; ++i) {
    const float ff = p.freq_factors ? p.freq_factors[i] : 1.0f;
    const float angle = p.freq_scale * (theta / ff);
    cos_out[i] = std::cos(angle);
    sin_out[i] = std::sin(angle);
    theta *= theta_scale;
  }
}

// The rotation with llama.cpp's roundings: its compiler fuses one product of each output into
// an FMA, x0 cos - x1 sin = fma(x0, cos, -round(x1 sin)) and x0 sin + x1 cos =
// fma(x0, sin, round(x1 cos)) (checked against its tensors). q and k are rounded to f16 next, so
// a one-ulp difference here would flip an f16 rounding now and then.
void rope_apply(float* x, int n_heads, const float* cos_v, const float* sin_v, const RopeParams& p) {
  const int half = p.rope_dim / 2;
  const bool adjacent = p.pairs == RopePairs::kAdjacent;
  for (int h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<int64_t>(h) * p.head_dim;
    for (int i = 0; i < half; ++i) {
      const int a = adjacent ? 2 * i : i;
      const int b = adjacent ? 2 * i + 1 : i + half;
      const float x0 = head[a], x1 = head[b], c = cos_v[i], s = sin_v[i];
      head[a] = std::fma(x0, c, -(x1 * s));
      head[b] = std::fma(x0, s, x1 * c);
    }
  }
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

namespace {

// ggml's tanh GELU on the CPU: ggml_gelu_f32 at every f16 value, rounded to f16
// (ggml_table_gelu_f16, built once) and looked up by the input rounded to f16; 0 below -10 and the
// identity above 10.
float gelu_f16_table(float x) {
  static const std::vector<f16_bits> table = [] {
    constexpr float kCoefA = 0.044715f, kSqrt2OverPi = 0.79788456080286535587989211986876f;
    std::vector<f16_bits> t(1 << 16);
    for (uint32_t i = 0; i < t.size(); ++i) {
      const float v = f16_to_f32(static_cast<f16_bits>(i));
      t[i] = f32_to_f16(0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kCoefA * v * v))));
    }
    return t;
  }();
  return x <= -10.0f ? 0.0f : x >= 10.0f ? x : f16_to_f32(table[f32_to_f16(x)]);
}

}  // namespace

void gelu_tanh_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gelu_f16_table(gate[i]) * up[i];
}

void gelu_tanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = gelu_f16_table(x[i]);
}

SiluMulFn best_silu_mul() {
  return std::strcmp(best_kernels().isa, "avx512") == 0 ? silu_mul_avx512 : silu_mul;
}

RopeApplyFn best_rope_apply() {
  return std::strcmp(best_kernels().isa, "avx512") == 0 ? rope_apply_avx512 : rope_apply;
}

LogSumExp log_sum_exp(const float* x, int64_t n) {
  LogSumExp r;
  r.argmax = std::max_element(x, x + n) - x;
  r.max = x[r.argmax];
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - r.max);
  r.lse = r.max + std::log(sum);
  return r;
}

LogSumExpFn best_log_sum_exp() {
  return std::strcmp(best_kernels().isa, "avx512") == 0 ? log_sum_exp_avx512 : log_sum_exp;
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace joule::cpu
