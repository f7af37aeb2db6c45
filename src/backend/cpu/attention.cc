#include "backend/cpu/attention.h"

#include <cstring>
#include <vector>

#include "backend/cpu/ops.h"
#include "core/check.h"
#include "backend/cpu/kernels.h"
#include "quant/fp16.h"

namespace joule::cpu {

AttendArgs AttendArgs::heads(int h0, int n) const {
  JOULE_CHECK(h0 >= 0 && n >= 1 && h0 + n <= n_heads);
  AttendArgs g = *this;
  g.q = q + size_t(h0) * head_dim;
  g.out = out + size_t(h0) * head_dim;
  g.scores = scores + size_t(h0) * n_keys;
  if (alibi_slopes != nullptr) g.alibi_slopes = alibi_slopes + h0;
  g.n_heads = n;
  return g;
}

void add_alibi(const AttendArgs& a) {
  if (a.alibi_slopes == nullptr || a.alibi_slopes[0] == 0.0f) return;
  const float slope = a.alibi_slopes[0];
  for (int j = 0; j < a.n_keys; ++j) a.scores[j] += slope * static_cast<float>(j - (a.n_keys - 1));
}

namespace {

void attend_one_scalar(const AttendArgs& a) {
  const int hd = a.head_dim;
  std::vector<float> q16(hd);
  for (int i = 0; i < hd; ++i) q16[i] = f16_to_f32(f32_to_f16(a.q[i]));
  for (int j = 0; j < a.n_keys; ++j) {
    const f16_bits* kj = a.key(j);
    float dot = 0.0f;
    for (int i = 0; i < hd; ++i) dot += q16[i] * f16_to_f32(kj[i]);
    a.scores[j] = dot * a.scale;
  }
  add_alibi(a);
  softmax(a.scores, a.n_keys);
  std::memset(a.out, 0, sizeof(float) * hd);
  for (int j = 0; j < a.n_keys; ++j) {
    const f16_bits* vj = a.value(j);
    const float p = f16_to_f32(f32_to_f16(a.scores[j]));
    for (int i = 0; i < hd; ++i) a.out[i] += p * f16_to_f32(vj[i]);
  }
}

}  // namespace

void attend_head_scalar(const AttendArgs& a) {
  for (int h = 0; h < a.n_heads; ++h) attend_one_scalar(a.heads(h, 1));
}

AttendFn best_attend(int head_dim) {
  // Same ISA choice as the matmul kernels (which honour JOULE_ISA).
  const char* isa = best_kernels().isa;
  if (std::strcmp(isa, "avx512") == 0 && head_dim % 16 == 0 && head_dim <= 256) return attend_head_avx512;
  if ((std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "avx2") == 0) && head_dim % 8 == 0 && head_dim <= 256)
    return attend_head_avx2;
  return attend_head_scalar;
}

}  // namespace joule::cpu
