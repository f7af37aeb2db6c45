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

namespace joule {
namespace {

// Round to nearest, ties to even, for |x| <= 2^22: adding 1.5 * 2^23 puts the integer part in
// the low mantissa bits (ggml's nearest_int).
int nearest_int(float x) {
  const float v = x + 12582912.f;
  int32_t i;
  std::memcpy(&i, &v, sizeof(i));
  return (i & 0x007fffff) - 0x00400000;
}

// The first value of largest magnitude, with its sign.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

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

// ---- k-quants ---------------------------------------------------------------------------------

// ggml's make_qkx2_quants: fits x ~ scale * L + min (L in [0, nmax], min <= 0) minimizing the
// weighted squared error, trying nstep + 1 candidate scales around nmax / (max - min).
// Returns the scale and stores -min in *the_min.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    const float diff = scale * L[i] + min - x[i];
    best_error += weights[i] * (diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error += weights[i] * (diff * diff);
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// ggml's make_qx_quants with rmse_type 1 (weights x^2) and no importance weights: fits
// x ~ scale * (L - nmax), L in [0, 2 nmax), trying 18 scales around -nmax / max.
constexpr float kGroupMaxEps = 1e-15f;

float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {  // all zero
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K super-block (ggml's get_scale_min_k4).
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb) {
  uint8_t L[kQK_K];
  uint8_t Laux[32];
  float weights[32];
  float mins[kQK_K / 32];
  float scales[kQK_K / 32];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0;  // the min is subtracted, so scales are never negative
    float max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] =
          make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kQK_K / 32; ++j) {  // j < 4 writes bytes 0..7 before j >= 4 ORs into them
      // As ggml: truncate to 8 bits first, then clamp (a negative fit wraps to 63).
      const uint8_t ls =
          std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
      const uint8_t lm =
          std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        y[i].scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        y[i].scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
      }
    }
    y[i].d = f32_to_f16(max_scale / 63.f);
    y[i].dmin = f32_to_f16(max_min / 63.f);
    // Re-quantize against the scales actually stored (6-bit, then f16-rounded d and dmin).
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      get_scale_min_k4(j, y[i].scales, &sc, &m);
      const float d = f16_to_f32(y[i].d) * sc;
      if (d == 0.0f) continue;
      const float dm = f16_to_f32(y[i].dmin) * m;
      for (int ii = 0; ii < 32; ++ii) {
        const int l = nearest_int((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(15, l)));
      }
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb) {
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(y[i]));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f32_to_f16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib)
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = f16_to_f32(y[i].d) * y[i].scales[j];
      if (d == 0.0f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l + 0] & 0xF;
        const int q2 = L[j + l + 32] & 0xF;
        const int q3 = L[j + l + 64] & 0xF;
        const int q4 = L[j + l + 96] & 0xF;
        ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_q8_k(const float* x, BlockQ8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max = 0;
    float amax = 0;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      std::memset(&y[i], 0, sizeof(y[i]));  // ggml leaves bsums unset here; zero them
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j)
      y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
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

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = f16_to_f32(x[i].d);
    const float min = f16_to_f32(x[i].dmin);
    for (int j = 0, is = 0; j < kQK_K; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
    }
  }
}

void dequantize_q8_k(const BlockQ8_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK_K)
    for (int j = 0; j < kQK_K; ++j) y[j] = x[i].d * static_cast<float>(x[i].qs[j]);
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
    case DType::kQ4_K: return quantize_q4_k(x, blocks<BlockQ4_K>(y), nb);
    case DType::kQ6_K: return quantize_q6_k(x, blocks<BlockQ6_K>(y), nb);
    case DType::kQ8_K: return quantize_q8_k(x, blocks<BlockQ8_K>(y), nb);
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
    case DType::kQ4_K: return dequantize_q4_k(blocks<BlockQ4_K>(x), y, nb);
    case DType::kQ6_K: return dequantize_q6_k(blocks<BlockQ6_K>(x), y, nb);
    case DType::kQ8_K: return dequantize_q8_k(blocks<BlockQ8_K>(x), y, nb);
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
