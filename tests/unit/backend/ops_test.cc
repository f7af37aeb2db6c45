// The fast attention, SiLU, RoPE and log-sum-exp variants against their scalar references.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/attention.h"
#include "core/cpu_features.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/ops.h"
#include "quant/fp16.h"

namespace joule::cpu {
namespace {

bool has_avx512() { return avx512_kernels() != nullptr; }

std::vector<float> uniform(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

struct AttendCase {
  int head_dim;
  int n_keys;
};

class AttendFastVsScalar : public ::testing::TestWithParam<AttendCase> {};

// `fast` against the scalar path on random keys and values of one head of a GQA cache, paged as a
// server's is: positions in blocks of 16 whose order in memory is reversed, read through `rows`.
void expect_matches_scalar(AttendFn fast, int hd, int n_keys) {
  const size_t stride = size_t(hd) * 3;  // three kv heads per position, as a GQA cache has
  constexpr int kBlock = 16;
  const int n_blocks = (n_keys + kBlock - 1) / kBlock;
  std::vector<size_t> rows(n_keys);
  for (int j = 0; j < n_keys; ++j) rows[j] = (size_t(n_blocks - 1 - j / kBlock) * kBlock + j % kBlock) * stride;
  const std::vector<float> q = uniform(hd, -2.0f, 2.0f, 1);
  std::vector<f16_bits> k(stride * n_blocks * kBlock), v(stride * n_blocks * kBlock);
  const std::vector<float> kf = uniform(k.size(), -2.0f, 2.0f, 2);
  const std::vector<float> vf = uniform(v.size(), -1.0f, 1.0f, 3);
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = f32_to_f16(kf[i]);
    v[i] = f32_to_f16(vf[i]);
  }
  std::vector<float> s_ref(n_keys), s_fast(n_keys), out_ref(hd), out_fast(hd);
  AttendArgs a{.q = q.data(), .k = k.data() + hd, .v = v.data() + hd, .rows = rows.data(),
               .n_keys = n_keys, .head_dim = hd, .scale = 1.0f / std::sqrt(float(hd)),
               .scores = s_ref.data(), .out = out_ref.data()};
  // Keys and values of head 1 start hd elements into each position's row.
  attend_head_scalar(a);
  a.scores = s_fast.data();
  a.out = out_fast.data();
  fast(a);
  // Probabilities are rounded to f16 in both; an exp 1 ulp apart (or scores summed in another
  // order) may round one of them to the neighbouring f16, which moves an output by at most 2^-11
  // of that value's weight.
  for (int i = 0; i < hd; ++i) EXPECT_NEAR(out_fast[i], out_ref[i], 2e-3f) << "i=" << i;
}

TEST_P(AttendFastVsScalar, Matches) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  expect_matches_scalar(attend_head_avx512, GetParam().head_dim, GetParam().n_keys);
}

TEST_P(AttendFastVsScalar, Avx2Matches) {
  if (!cpu_features().has_avx2_level()) GTEST_SKIP() << "no AVX2 on this CPU";
  if (GetParam().head_dim % 8 != 0) GTEST_SKIP();
  expect_matches_scalar(attend_head_avx2, GetParam().head_dim, GetParam().n_keys);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttendFastVsScalar,
                         ::testing::Values(AttendCase{64, 1}, AttendCase{64, 3}, AttendCase{64, 4},
                                           AttendCase{64, 17}, AttendCase{64, 33},
                                           AttendCase{128, 200}, AttendCase{16, 5},
                                           AttendCase{256, 64}, AttendCase{64, 1031}));

TEST(AttendFastVsScalar, PeakedScoresGiveOneHot) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  constexpr int hd = 64, n_keys = 21;
  std::vector<float> q(hd, 0.0f);
  q[0] = 100.0f;
  std::vector<f16_bits> k(size_t(hd) * n_keys, f32_to_f16(0.0f)), v(size_t(hd) * n_keys);
  k[size_t(hd) * 7] = f32_to_f16(10.0f);  // key 7 wins by a score of 125: the rest underflow
  for (int j = 0; j < n_keys; ++j)
    for (int i = 0; i < hd; ++i) v[size_t(j) * hd + i] = f32_to_f16(float(j));
  std::vector<float> scores(n_keys), out(hd);
  std::vector<size_t> rows(n_keys);
  for (int j = 0; j < n_keys; ++j) rows[j] = size_t(j) * hd;
  attend_head_avx512({.q = q.data(), .k = k.data(), .v = v.data(), .rows = rows.data(),
                      .n_keys = n_keys, .head_dim = hd, .scale = 0.125f, .scores = scores.data(),
                      .out = out.data()});
  for (float o : out) EXPECT_FLOAT_EQ(o, 7.0f);
}

// Query heads sharing a kv head, attended as one group (the AVX-512 variant shares their key and
// value loads), give each head exactly what it gets alone, in both of llama.cpp's orders; group
// sizes cross the four heads computed together, key counts the four-key and 16-key steps.
TEST(AttendGroup, EachHeadEqualsItselfAlone) {
  for (AttendFn attend : {attend_head_scalar, attend_head_avx2, attend_head_avx512}) {
    if (attend == attend_head_avx512 && !has_avx512()) continue;
    if (attend == attend_head_avx2 && !cpu_features().has_avx2_level()) continue;
    for (int hd : {64, 80, 128})
      for (int n_heads : {1, 2, 3, 4, 5, 7})
        for (int n_keys : {1, 5, 19, 70})
          for (bool single : {false, true}) {
            if (attend == attend_head_avx512 && hd % 16 != 0) continue;
            const std::vector<float> q = uniform(size_t(n_heads) * hd, -2.0f, 2.0f, 5);
            const std::vector<float> kf = uniform(size_t(n_keys) * hd, -2.0f, 2.0f, 6);
            const std::vector<float> vf = uniform(size_t(n_keys) * hd, -1.0f, 1.0f, 7);
            std::vector<f16_bits> k(kf.size()), v(vf.size());
            for (size_t i = 0; i < k.size(); ++i) k[i] = f32_to_f16(kf[i]), v[i] = f32_to_f16(vf[i]);
            std::vector<size_t> rows(n_keys);
            for (int j = 0; j < n_keys; ++j) rows[j] = size_t(n_keys - 1 - j) * hd;  // any order
            std::vector<float> slopes(n_heads);
            for (int h = 0; h < n_heads; ++h) slopes[h] = 0.1f * float(h);
            std::vector<float> scores(size_t(n_heads) * n_keys), out(size_t(n_heads) * hd), alone(hd);
            const AttendArgs group{.q = q.data(), .k = k.data(), .v = v.data(), .rows = rows.data(), .n_keys = n_keys,
                                   .head_dim = hd, .scale = 0.125f, .alibi_slopes = slopes.data(),
                                   .scores = scores.data(), .out = out.data(), .single_token = single,
                                   .n_heads = n_heads};
            attend(group);
            for (int h = 0; h < n_heads; ++h) {
              AttendArgs one = group.heads(h, 1);
              std::vector<float> s(n_keys);
              one.scores = s.data();
              one.out = alone.data();
              attend(one);
              for (int i = 0; i < hd; ++i)
                ASSERT_EQ(out[size_t(h) * hd + i], alone[i])
                    << "hd=" << hd << " heads=" << n_heads << " keys=" << n_keys << " single=" << single << " h=" << h;
            }
          }
  }
}

// The bias penalizes distance: with equal keys the nearest key weighs most, and the weights fall
// by exp(-slope) per position.
TEST(Alibi, WeighsKeysByDistance) {
  const int hd = 16, n = 4;
  std::vector<float> q(hd, 0.0f), out(hd), scores(n);
  std::vector<f16_bits> k(size_t(n) * hd, f32_to_f16(0.0f)), v(size_t(n) * hd);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < hd; ++i) v[size_t(j) * hd + i] = f32_to_f16(i == j ? 1.0f : 0.0f);
  std::vector<size_t> rows = {0, 16, 32, 48};
  const float slope = 0.5f;
  for (AttendFn attend : {attend_head_scalar, best_attend(hd)}) {
    attend({.q = q.data(), .k = k.data(), .v = v.data(), .rows = rows.data(), .n_keys = n, .head_dim = hd,
            .scale = 0.25f, .alibi_slopes = &slope, .scores = scores.data(), .out = out.data()});
    double z = 0;
    for (int j = 0; j < n; ++j) z += std::exp(-slope * (n - 1 - j));
    for (int j = 0; j < n; ++j) EXPECT_NEAR(out[j], std::exp(-slope * (n - 1 - j)) / z, 1e-3) << j;
  }
}

// LayerNorm against its definition in double.
TEST(LayerNorm, MatchesDefinition) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.5f, 2.0f);
  const int n = 384;
  std::vector<float> x(n), w(n), b(n), out(n);
  for (int i = 0; i < n; ++i) x[i] = dist(rng), w[i] = dist(rng), b[i] = dist(rng);
  layernorm(x.data(), w.data(), b.data(), n, 1e-5f, out.data());
  double mean = 0, var = 0;
  for (float v : x) mean += v;
  mean /= n;
  for (float v : x) var += (v - mean) * (v - mean);
  var /= n;
  for (int i = 0; i < n; ++i)
    EXPECT_NEAR(out[i], (x[i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i], 1e-4 * (1 + std::fabs(out[i]))) << i;
  layernorm(x.data(), w.data(), b.data(), n, 1e-5f, x.data());  // in place
  EXPECT_EQ(x, out);
}

// The ungated GELU equals the gated one with up = 1.
TEST(Gelu, UngatedIsGatedTimesOne) {
  std::vector<float> x = {-12.0f, -3.0f, -0.5f, 0.0f, 0.25f, 1.0f, 4.0f, 11.0f}, g = x, ones(x.size(), 1.0f);
  gelu_tanh(x.data(), int64_t(x.size()));
  gelu_tanh_mul(g.data(), ones.data(), int64_t(g.size()));
  EXPECT_EQ(x, g);
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[7], 11.0f);
  EXPECT_NEAR(x[5], 0.8412f, 1e-3);
}

TEST(SiluMul, Avx512MatchesScalar) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (int64_t n : {1, 15, 16, 17, 100, 1536}) {
    std::vector<float> g = uniform(n, -30.0f, 30.0f, 5), up = uniform(n, -3.0f, 3.0f, 6);
    g[0] = -200.0f;  // exp(200) overflows: silu must still be -0, not NaN
    std::vector<float> ref = g, fast = g;
    silu_mul(ref.data(), up.data(), n);
    silu_mul_avx512(fast.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(fast[i], ref[i], 4e-7f * std::max(1.0f, std::fabs(ref[i]))) << "n=" << n << " i=" << i;
  }
}

TEST(Rope, Avx512EqualsScalarBitForBit) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  // Full and partial rotary dimensions (phi-style 32 of 64, and pair counts that end mid-vector),
  // both pair layouts, several heads.
  for (const auto& [head_dim, rope_dim] : {std::pair{64, 64}, {64, 32}, {128, 128}, {40, 40}, {80, 24}, {256, 256}})
    for (RopePairs pairs : {RopePairs::kAdjacent, RopePairs::kHalves}) {
      const RopeParams p{.head_dim = head_dim, .rope_dim = rope_dim, .pairs = pairs};
      std::vector<float> cs(rope_dim / 2), sn(rope_dim / 2);
      rope_angles(1234, p, cs.data(), sn.data());
      std::vector<float> ref = uniform(3 * head_dim, -4.0f, 4.0f, 8);
      ref[1] = 0.0f, ref[2] = -0.0f;  // zero signs follow the scalar fma too
      std::vector<float> fast = ref;
      rope_apply(ref.data(), 3, cs.data(), sn.data(), p);
      rope_apply_avx512(fast.data(), 3, cs.data(), sn.data(), p);
      for (size_t i = 0; i < ref.size(); ++i)
        EXPECT_EQ(std::bit_cast<uint32_t>(fast[i]), std::bit_cast<uint32_t>(ref[i]))
            << "head_dim " << head_dim << " rope_dim " << rope_dim << " i " << i;
    }
}

TEST(LogSumExp, Avx512MatchesScalar) {
  if (!has_avx512()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (int64_t n : {1, 15, 17, 1000, 49152, 151936}) {  // up to Qwen2's vocabulary
    std::vector<float> x = uniform(n, -20.0f, 25.0f, 7);
    x[n / 2] = 40.0f;  // a clear winner in the middle; ties go to the first
    if (n > 2) x[n - 1] = 40.0f;
    const LogSumExp ref = log_sum_exp(x.data(), n), fast = log_sum_exp_avx512(x.data(), n);
    EXPECT_EQ(fast.max, ref.max);
    EXPECT_EQ(fast.argmax, ref.argmax) << "n=" << n;
    EXPECT_EQ(ref.argmax, n / 2);
    EXPECT_NEAR(fast.lse, ref.lse, 1e-6 * std::fabs(ref.lse)) << "n=" << n;
  }
}

}  // namespace
}  // namespace joule::cpu
