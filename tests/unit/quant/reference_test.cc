#include "quant/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/fp16.h"
#include "quant/types.h"

namespace joule {
namespace {

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(row_bytes(t, n));
  quantize_row_ref(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  dequantize_row_ref(t, q.data(), y.data(), n);
  return y;
}

// sum((x - y)^2) / sum(x^2)
double nmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    ref += double(x[i]) * x[i];
  }
  return err / ref;
}

struct Bound {
  DType type;
  double max_nmse;
};

// Bounds for Gaussian data, about 2x what the ggml algorithms achieve (noted per type).
class RoundTrip : public ::testing::TestWithParam<Bound> {};

TEST_P(RoundTrip, ErrorIsBounded) {
  const Bound b = GetParam();
  const std::vector<float> x = gaussian(4096, 1234);
  EXPECT_LT(nmse(x, round_trip(b.type, x)), b.max_nmse) << dtype_name(b.type);
}

TEST_P(RoundTrip, ScaleInvariant) {  // the relative error must not depend on the magnitude
  const Bound b = GetParam();
  for (float sigma : {1e-2f, 1e2f}) {
    const std::vector<float> x = gaussian(2048, 99, sigma);
    EXPECT_LT(nmse(x, round_trip(b.type, x)), b.max_nmse) << dtype_name(b.type) << " " << sigma;
  }
}

TEST_P(RoundTrip, ZerosStayZero) {
  const std::vector<float> x(512, 0.0f);
  for (float v : round_trip(GetParam().type, x)) EXPECT_EQ(v, 0.0f);
}

TEST_P(RoundTrip, ConstantBlockIsClose) {
  const std::vector<float> x(512, 2.5f);
  for (float v : round_trip(GetParam().type, x)) EXPECT_NEAR(v, 2.5f, 2.5f * 2e-3f);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RoundTrip,
                         ::testing::Values(Bound{DType::kF32, 1e-30},
                                           Bound{DType::kF16, 1e-7},   // measured 4.2e-8
                                           Bound{DType::kBF16, 6e-6},  // 2.7e-6
                                           Bound{DType::kQ8_0, 6e-5},     // 3.0e-5
                                           Bound{DType::kQ8_1, 6e-5},     // 3.0e-5
                                           Bound{DType::kQ8_K, 1e-4},     // 5.2e-5
                                           Bound{DType::kI8_CH, 2e-4},    // one scale per row
                                           Bound{DType::kI8_DYN, 2e-4},
                                           Bound{DType::kI8_ACT, 2e-4},
                                           Bound{DType::kQ6_K, 6e-4},     // 3.2e-4
                                           Bound{DType::kQ4_K, 1e-2},     // 5.3e-3
                                           Bound{DType::kQ2_K, 0.18},      // 9.0e-2
                                           Bound{DType::kQ3_K, 5e-2},      // 2.3e-2
                                           Bound{DType::kQ5_K, 2.7e-3},    // 1.3e-3
                                           Bound{DType::kQ4_1, 1.2e-2},   // 6.2e-3
                                           Bound{DType::kQ5_0, 4e-3},
                                           Bound{DType::kQ5_1, 3e-3},
                                           Bound{DType::kQ4_G128Z, 2e-2},
                                           Bound{DType::kQ4_G128, 2.5e-2},
                                           Bound{DType::kQ4_0, 1.5e-2}),  // 7.7e-3
                         [](const auto& p) { return std::string(dtype_name(p.param.type)); });

TEST(Q8_0, RampBlockHasKnownScaleAndValues) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  BlockQ8_0 b;
  quantize_row_ref(DType::kQ8_0, x.data(), &b, 32);
  // d = 31 / 127 = 0.2440945 -> f16 1.953125 * 2^-3 = 0x33d0; q = round(i * 127 / 31).
  EXPECT_EQ(b.d, 0x33d0);
  EXPECT_EQ(b.qs[0], 0);
  EXPECT_EQ(b.qs[1], 4);    // 4.097
  EXPECT_EQ(b.qs[15], 61);  // 61.45
  EXPECT_EQ(b.qs[16], 66);  // 65.55
  EXPECT_EQ(b.qs[31], 127);
}

TEST(Q4_0, KnownBlock) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);  // -16 .. 15
  BlockQ4_0 b;
  quantize_row_ref(DType::kQ4_0, x.data(), &b, 32);
  // The largest magnitude (-16) maps to q = 0: d = -16 / -8 = 2, q = min(15, (int)(x / 2 + 8.5)).
  EXPECT_EQ(f16_to_f32(b.d), 2.0f);
  EXPECT_EQ(b.qs[0] & 0xF, 0);   // x = -16
  EXPECT_EQ(b.qs[1] & 0xF, 1);   // x = -15: 1.0
  EXPECT_EQ(b.qs[0] >> 4, 8);    // x = 0: 8.5
  EXPECT_EQ(b.qs[1] >> 4, 9);    // x = 1: 9.0
  EXPECT_EQ(b.qs[15] >> 4, 15);  // x = 15: 16.0, clamped
  float y[32];
  dequantize_row_ref(DType::kQ4_0, &b, y, 32);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[16], 0.0f);
  EXPECT_EQ(y[31], 14.0f);
}

TEST(Q4_1, ConstantBlockIsExact) {  // max == min: d = 0 and every value is the (f16) min
  std::vector<float> x(32, 3.0f);
  BlockQ4_1 b;
  quantize_row_ref(DType::kQ4_1, x.data(), &b, 32);
  EXPECT_EQ(f16_to_f32(b.d), 0.0f);
  EXPECT_EQ(f16_to_f32(b.m), 3.0f);
  float y[32];
  dequantize_row_ref(DType::kQ4_1, &b, y, 32);
  for (float v : y) EXPECT_EQ(v, 3.0f);
}

TEST(Q8_1, SumFieldIsScaleTimesSum) {
  const std::vector<float> x = gaussian(256, 5);
  std::vector<BlockQ8_1> b(8);
  quantize_row_ref(DType::kQ8_1, x.data(), b.data(), 256);
  for (const BlockQ8_1& blk : b) {
    int sum = 0;
    for (int8_t q : blk.qs) sum += q;
    EXPECT_NEAR(f16_to_f32(blk.s), sum * f16_to_f32(blk.d), std::fabs(f16_to_f32(blk.s)) * 2e-3);
  }
}

TEST(Q8_K, BsumsAreSumsOfSixteen) {
  const std::vector<float> x = gaussian(512, 6);
  std::vector<BlockQ8_K> b(2);
  quantize_row_ref(DType::kQ8_K, x.data(), b.data(), 512);
  for (const BlockQ8_K& blk : b) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[16 * j + i];
      EXPECT_EQ(blk.bsums[j], sum);
    }
    // The largest magnitude maps to -127.
    int extreme = 0;
    for (int8_t q : blk.qs) extreme = std::min<int>(extreme, q);
    EXPECT_EQ(extreme, -127);
  }
}

// The 6-bit scales and mins of Q4_K / Q5_K packed as ggml's quantize_row_q4_K_ref packs them.
void pack_k4_scales(const uint8_t (&sc)[8], const uint8_t (&m)[8], uint8_t* out) {
  for (int j = 0; j < 4; ++j) {
    out[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    out[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    out[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

// Q2_K / Q3_K low bits as ggml packs them: four 2-bit planes per 128 values.
void pack_2bit(const int* q, uint8_t* qs) {
  for (int j = 0; j < 256; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<uint8_t>((q[j + l] & 3) | ((q[j + l + 32] & 3) << 2) |
                                           ((q[j + l + 64] & 3) << 4) | ((q[j + l + 96] & 3) << 6));
}

TEST(Q6_K, DequantizeMatchesLayout) {
  // A hand-built super-block: every 6-bit value q = (i * 7) % 64, scales sc_j = j - 8, d = 0.5.
  BlockQ6_K b{};
  int q[256];
  for (int i = 0; i < 256; ++i) q[i] = (i * 7) % 64;
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const int* v = q + 128 * h;
      b.ql[64 * h + l] = static_cast<uint8_t>((v[l] & 15) | ((v[l + 64] & 15) << 4));
      b.ql[64 * h + l + 32] = static_cast<uint8_t>((v[l + 32] & 15) | ((v[l + 96] & 15) << 4));
      b.qh[32 * h + l] = static_cast<uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) |
                                              ((v[l + 64] >> 4) << 4) | ((v[l + 96] >> 4) << 6));
    }
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j - 8);
  b.d = f32_to_f16(0.5f);
  float y[256];
  dequantize_row_ref(DType::kQ6_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.5f * (i / 16 - 8) * (q[i] - 32)) << i;
}

TEST(Q4_K, DequantizeMatchesLayout) {
  // Scales sc_j = 2j + 1, mins m_j = 40 + j (exercising the high bits of the 6-bit packing),
  // q = i % 16, d = 0.25, dmin = 0.125.
  BlockQ4_K b{};
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(2 * j + 1 + (j >= 4 ? 32 : 0));
    m[j] = static_cast<uint8_t>(40 + j);
  }
  pack_k4_scales(sc, m, b.scales);
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l)
      b.qs[32 * c + l] =
          static_cast<uint8_t>(((64 * c + l) % 16) | (((64 * c + 32 + l) % 16) << 4));
  b.d = f32_to_f16(0.25f);
  b.dmin = f32_to_f16(0.125f);
  float y[256];
  dequantize_row_ref(DType::kQ4_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) {
    const int j = i / 32;
    EXPECT_EQ(y[i], 0.25f * sc[j] * static_cast<float>(i % 16) - 0.125f * m[j]) << i;
  }
}

TEST(Q2_K, DequantizeMatchesLayout) {
  // q = 5i % 4, group g's scale g and min 15 - g, d = 0.5, dmin = 0.25.
  BlockQ2_K b{};
  int q[256];
  for (int i = 0; i < 256; ++i) q[i] = (5 * i) % 4;
  pack_2bit(q, b.qs);
  for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(g | ((15 - g) << 4));
  b.d = f32_to_f16(0.5f);
  b.dmin = f32_to_f16(0.25f);
  float y[256];
  dequantize_row_ref(DType::kQ2_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.5f * (i / 16) * q[i] - 0.25f * (15 - i / 16)) << i;
}

TEST(Q3_K, DequantizeMatchesLayout) {
  // q = 3i % 8 (value q - 4; bit 2 in hmask), group g's scale 4g - 32 (stored 4g), d = 0.5.
  BlockQ3_K b{};
  int q[256];
  for (int i = 0; i < 256; ++i) q[i] = (3 * i) % 8;
  pack_2bit(q, b.qs);
  for (int i = 0; i < 256; ++i) b.hmask[i % 32] |= static_cast<uint8_t>(((q[i] >> 2) & 1) << (i / 32));
  for (int g = 0; g < 16; ++g) {  // as quantize_row_q3_K_ref stores l = sc + 32
    const int l = 4 * g;
    if (g < 8)
      b.scales[g] = static_cast<uint8_t>(l & 0xF);
    else
      b.scales[g - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
    b.scales[g % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (g / 4)));
  }
  b.d = f32_to_f16(0.5f);
  float y[256];
  dequantize_row_ref(DType::kQ3_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.5f * (4 * (i / 16) - 32) * (q[i] - 4)) << i;
}

TEST(Q5_K, DequantizeMatchesLayout) {
  // Q4_K's scales and mins, q = 7i % 32 with bit 4 in qh as quantize_row_q5_K_ref puts it.
  BlockQ5_K b{};
  uint8_t sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(2 * j + 1 + (j >= 4 ? 32 : 0));
    m[j] = static_cast<uint8_t>(40 + j);
  }
  pack_k4_scales(sc, m, b.scales);
  int q[256];
  for (int i = 0; i < 256; ++i) q[i] = (7 * i) % 32;
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      const int l1 = q[64 * c + l], l2 = q[64 * c + l + 32];
      b.qh[l] |= static_cast<uint8_t>(((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1)));
      b.qs[32 * c + l] = static_cast<uint8_t>((l1 & 15) | ((l2 & 15) << 4));
    }
  b.d = f32_to_f16(0.25f);
  b.dmin = f32_to_f16(0.125f);
  float y[256];
  dequantize_row_ref(DType::kQ5_K, &b, y, 256);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(y[i], 0.25f * sc[i / 32] * static_cast<float>(q[i]) - 0.125f * m[i / 32]) << i;
}

// ggml's Q5 packing: the value of largest magnitude (-16, first) sets d = 1, so q[j] = j; low
// nibbles of q[j] and q[j + 16] share byte j, bit 4 of q[j] is bit j of qh.
TEST(Q5_0, RampBlockIsPackedAsGgmlPacksIt) {
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  BlockQ5_0 b;
  quantize_row_ref(DType::kQ5_0, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3c00);  // 1.0
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.qs[j], j | j << 4) << j;
  EXPECT_EQ(b.qh[0], 0x00);
  EXPECT_EQ(b.qh[1], 0x00);
  EXPECT_EQ(b.qh[2], 0xFF);
  EXPECT_EQ(b.qh[3], 0xFF);
  float y[32];
  dequantize_row_ref(DType::kQ5_0, &b, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]) << i;
}

TEST(Q5_1, RampBlockIsExact) {  // min 0, max 31: d = 1, m = 0, q[j] = j
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i);
  BlockQ5_1 b;
  quantize_row_ref(DType::kQ5_1, x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3c00);
  EXPECT_EQ(b.m, 0x0000);
  EXPECT_EQ(b.qh[3], 0xFF);
  float y[32];
  dequantize_row_ref(DType::kQ5_1, &b, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]) << i;
}

TEST(Quantize, RowsOfSeveralBlocksAreIndependent) {
  // Quantizing a row equals quantizing each block on its own.
  const std::vector<float> x = gaussian(1024, 77);
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                  DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const int bs = traits(t).block_size;
    std::vector<uint8_t> whole(row_bytes(t, 1024));
    quantize_row_ref(t, x.data(), whole.data(), 1024);
    std::vector<uint8_t> one(traits(t).block_bytes);
    for (int b = 0; b < 1024 / bs; ++b) {
      quantize_row_ref(t, x.data() + b * bs, one.data(), bs);
      EXPECT_EQ(std::memcmp(one.data(), whole.data() + b * one.size(), one.size()), 0)
          << dtype_name(t) << " block " << b;
    }
  }
}

}  // namespace
}  // namespace joule

namespace joule {
namespace {

// 2:4 sparsity is pruning, not rounding: its own tests.
TEST(Sparse24, KeepsTheTwoLargestMagnitudesOfEveryFour) {
  const float x[16] = {1, -4, 3, 2, /**/ 0, 0, 0, 0, /**/ 5, 5, 5, 5, /**/ -1, 0.5f, -0.25f, 2};
  BlockF16S24 b;
  quantize_row_ref(DType::kF16_S24, x, &b, 16);
  EXPECT_EQ(b.mask, 0b1001'0011'0011'0110) << std::hex << b.mask;  // ties keep the earlier
  for (int g = 0; g < 4; ++g) EXPECT_EQ(__builtin_popcount((b.mask >> (4 * g)) & 0xF), 2);
  float y[16];
  dequantize_row_ref(DType::kF16_S24, &b, y, 16);
  const float want[16] = {0, -4, 3, 0, /**/ 0, 0, 0, 0, /**/ 5, 5, 0, 0, /**/ -1, 0, 0, 2};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(y[i], want[i]) << i;
}

TEST(Sparse24, ErrorOnGaussianData) {
  // Pruning the two smallest of four Gaussians loses about 13 % of the energy (measured 0.131).
  const std::vector<float> x = gaussian(4096, 1234);
  const double e = nmse(x, round_trip(DType::kF16_S24, x));
  EXPECT_GT(e, 0.10);
  EXPECT_LT(e, 0.15);
}

TEST(Sparse24, MalformedMasksStayInBounds) {
  BlockF16S24 b{0xFFFF, {}};  // 16 bits set: only 8 values exist
  for (auto& v : b.v) v = f32_to_f16(1.0f);
  float y[16];
  dequantize_row_ref(DType::kF16_S24, &b, y, 16);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(y[i], i < 8 ? 1.0f : 0.0f) << i;
}

}  // namespace
}  // namespace joule
