#include "backend/cpu/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels_internal.h"
#include "core/cpu_features.h"
#include "quant/reference.h"
#include "quant/types.h"

namespace joule::cpu {
namespace {

constexpr DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16,  DType::kQ8_0,
                                  DType::kQ4_0, DType::kQ4_1, DType::kQ4_K,  DType::kQ6_K,
                                  DType::kI8_CH, DType::kI8_DYN, DType::kF16_S24,
                                  DType::kQ4_G128, DType::kQ4_G128Z, DType::kQ5_0, DType::kQ5_1,
                                  DType::kQ2_K, DType::kQ3_K, DType::kQ5_K};

std::vector<const KernelSet*> fast_sets() {
  std::vector<const KernelSet*> sets;
  if (const KernelSet* k = avx2_kernels()) sets.push_back(k);
  if (const KernelSet* k = avx512_kernels()) sets.push_back(k);
  return sets;
}

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// A matrix of `rows` rows of type t, `stride` bytes apart, starting `offset` bytes into a buffer
// (GGUF data is only guaranteed 2-byte aligned). The buffer ends right after the last row, so
// AddressSanitizer catches any read past it.
struct Matrix {
  std::vector<uint8_t> buf;
  size_t offset = 0;
  size_t stride = 0;
  const uint8_t* data() const { return buf.data() + offset; }
  uint8_t* data() { return buf.data() + offset; }
};

constexpr size_t kPad = 64;  // extra bytes between rows

Matrix quantized_rows(DType t, int rows, int64_t n, uint32_t seed, size_t offset) {
  Matrix m;
  m.offset = offset;
  m.stride = row_bytes(t, n) + kPad;
  m.buf.assign(offset + m.stride * rows - kPad, 0xAB);
  const std::vector<float> x = gaussian(static_cast<size_t>(rows * n), seed);
  for (int r = 0; r < rows; ++r) quantize_row_ref(t, x.data() + r * n, m.data() + r * m.stride, n);
  return m;
}

// Activation rows converted with the set's own converter.
Matrix activations(const TypeKernels& k, int rows, int64_t n, uint32_t seed) {
  Matrix m;
  m.stride = row_bytes(k.act_type, n) + kPad;
  m.buf.assign(m.stride * rows - kPad, 0xCD);
  const std::vector<float> x = gaussian(static_cast<size_t>(rows * n), seed);
  for (int r = 0; r < rows; ++r) k.convert_act(x.data() + r * n, m.data() + r * m.stride, n);
  return m;
}

constexpr float kSentinel = -12345.0f;

// out[t * ldo + r] for an nr x nt tile; ldo > nr, and the gaps must stay untouched.
std::vector<float> run_gemm(const TypeKernels& k, const Matrix& w, int nr, const Matrix& a, int nt,
                            int64_t n) {
  const int64_t ldo = nr + 3;
  std::vector<float> out(static_cast<size_t>(ldo * nt), kSentinel);
  k.gemm(n, w.data(), w.stride, nr, a.data(), a.stride, nt, out.data(), ldo);
  std::vector<float> packed;
  for (int t = 0; t < nt; ++t) {
    for (int r = 0; r < ldo; ++r) {
      const float v = out[static_cast<size_t>(t * ldo + r)];
      if (r < nr)
        packed.push_back(v);
      else
        EXPECT_EQ(v, kSentinel) << "wrote outside the tile at t=" << t << " r=" << r;
    }
  }
  return packed;
}

double nmse(const std::vector<float>& ref, const std::vector<float>& got) {
  double err = 0, sum = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
    sum += double(ref[i]) * ref[i];
  }
  return sum > 0 ? err / sum : err;
}

int block_size(DType t) { return traits(t).block_size; }

// ---- every fast set against the scalar oracle --------------------------------------------------

struct Case {
  const KernelSet* set;
  DType type;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const KernelSet* s : fast_sets())
    for (DType t : kWeightTypes) cases.push_back({s, t});
  return cases;
}

class FastVsScalar : public ::testing::TestWithParam<Case> {};

TEST_P(FastVsScalar, SameActivationFormat) {
  const auto [set, type] = GetParam();
  const TypeKernels* fast = set->for_type(type);
  const TypeKernels* ref = scalar_kernels().for_type(type);
  ASSERT_NE(fast, nullptr);
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(fast->act_type, ref->act_type);
}

TEST_P(FastVsScalar, ConvertActIsBitExact) {
  const auto [set, type] = GetParam();
  const TypeKernels& k = *set->for_type(type);
  const int64_t n = 1024;
  std::vector<float> x = gaussian(n, 3);
  // Exact rounding ties for both Q8_0 (d = 1: x * id = x) and Q8_K (max = -127: iscale = 1).
  const float ties[] = {-127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 3.5f, -126.5f};
  for (int i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = ties[i % 8];
  for (int i = 0; i < 256; ++i) x[static_cast<size_t>(256 + i)] = ties[i % 8];
  for (int i = 512; i < 544; ++i) x[static_cast<size_t>(i)] = 0.0f;   // an all-zero block
  for (int i = 768; i < 1024; ++i) x[static_cast<size_t>(i)] = 0.0f;  // an all-zero super-block
  const size_t bytes = row_bytes(k.act_type, n);
  std::vector<uint8_t> got(bytes), want(bytes);
  k.convert_act(x.data(), got.data(), n);
  scalar_kernels().for_type(type)->convert_act(x.data(), want.data(), n);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), bytes), 0) << dtype_name(k.act_type);
}

TEST_P(FastVsScalar, OddShapesMatch) {
  const auto [set, type] = GetParam();
  const TypeKernels& fast = *set->for_type(type);
  const TypeKernels& ref = *scalar_kernels().for_type(type);
  const int bs = block_size(type) == 1 ? 32 : block_size(type);
  // Lengths: one block, a few blocks (a partial 4-block group for 32-blocks), SmolLM2 widths;
  // float types also get lengths that are not a multiple of the vector width.
  std::vector<int64_t> lengths = {bs, 3 * bs, 576, 1536};
  if (block_size(type) == 1) lengths.insert(lengths.end(), {1, 7, 19, 45});
  for (int64_t n : lengths) {
    if (n % block_size(type) != 0) continue;
    const size_t w_offset = type == DType::kF32 ? 4 : 2;
    const Matrix w = quantized_rows(type, 33, n, 11, w_offset);
    const Matrix a_fast = activations(fast, 13, n, 12);
    const Matrix a_ref = activations(ref, 13, n, 12);
    for (int nr : {1, 2, 3, 5, 7, 16, 33}) {
      for (int nt : {1, 2, 3, 4, 5, 8, 13}) {
        const std::vector<float> want = run_gemm(ref, w, nr, a_ref, nt, n);
        const std::vector<float> got = run_gemm(fast, w, nr, a_fast, nt, n);
        ASSERT_LT(nmse(want, got), 1e-10)
            << set->isa << " " << dtype_name(type) << " n=" << n << " nr=" << nr << " nt=" << nt;
      }
    }
  }
}

// The AVX-512 Q4_1 kernel follows ggml's float order, as the scalar oracle does, so the two
// agree bit for bit (the parity with llama.cpp depends on it). Lengths cross the kernel's
// 16-block scale groups and 64-block chunks.
TEST(KernelOrder, Avx512Q4_1EqualsTheOracleBitForBit) {
  const KernelSet* set = avx512_kernels();
  if (set == nullptr) GTEST_SKIP() << "no AVX-512 on this CPU";
  const TypeKernels& fast = *set->for_type(DType::kQ4_1);
  const TypeKernels& ref = *scalar_kernels().for_type(DType::kQ4_1);
  for (int64_t n : {32, 96, 544, 576, 1536, 2080}) {
    const Matrix w = quantized_rows(DType::kQ4_1, 33, n, 21, 2);
    const Matrix a = activations(ref, 13, n, 22);
    for (int nr : {1, 3, 5, 8, 9, 16, 33})
      for (int nt : {1, 2, 3, 4, 5, 13})
        ASSERT_EQ(run_gemm(ref, w, nr, a, nt, n), run_gemm(fast, w, nr, a, nt, n))
            << "n=" << n << " nr=" << nr << " nt=" << nt;
  }
}

// The (set, type) pairs whose kernels have a packed layout (TypeKernels::pack).
std::vector<Case> packed_cases() {
  std::vector<Case> cases;
  for (const Case& c : all_cases())
    if (c.set->for_type(c.type)->pack != nullptr) cases.push_back(c);
  return cases;
}

// Every kernel with a packed layout computes from it exactly what its gemm computes from the
// file layout; for Q4_1 that is again the oracle bit for bit. Rows cross the 16-row groups (33
// rows: the last group is padded), tiles start at any group.
TEST(KernelOrder, PackedLayoutsEqualTheOracleBitForBit) {
  const std::vector<Case> cases = packed_cases();
  if (cases.empty()) GTEST_SKIP() << "no kernel set here packs weights";
  for (const auto [set, type] : cases) {
    const TypeKernels& fast = *set->for_type(type);
    ASSERT_NE(fast.gemm_packed, nullptr);
    const TypeKernels& ref = *scalar_kernels().for_type(type);
    for (int64_t n : {32, 96, 544, 576, 1536, 2080}) {
      const int rows = 33;
      const Matrix w = quantized_rows(type, rows, n, 31, 2);
      std::vector<uint8_t> packed(fast.packed_bytes(rows, n), 0xEE);
      fast.pack(w.data(), w.stride, rows, n, packed.data());
      const Matrix a = activations(ref, 13, n, 32);
      for (int r0 : {0, kPackRows, 2 * kPackRows})
        for (int nr : {1, 3, 8, 9, 16, 17, 33}) {
          if (r0 + nr > rows) continue;
          Matrix tile = w;
          tile.offset += static_cast<size_t>(r0) * w.stride;
          for (int nt : {1, 2, 3, 4, 5, 13}) {
            const int64_t ldo = nr + 3;
            std::vector<float> out(static_cast<size_t>(ldo * nt), kSentinel);
            fast.gemm_packed(n, packed.data(), r0, nr, a.data(), a.stride, nt, out.data(), ldo);
            const std::vector<float> want = run_gemm(ref, tile, nr, a, nt, n);
            for (int t = 0; t < nt; ++t)
              for (int r = 0; r < ldo; ++r) {
                const float v = out[static_cast<size_t>(t * ldo + r)];
                if (r < nr)
                  ASSERT_EQ(v, want[static_cast<size_t>(t * nr + r)])
                      << set->isa << " " << dtype_name(type) << " n=" << n << " r0=" << r0
                      << " nr=" << nr << " nt=" << nt << " t=" << t << " r=" << r;
                else
                  ASSERT_EQ(v, kSentinel) << "wrote outside the tile";
              }
          }
        }
    }
  }
}

// Long prompts: the packed kernels prepare activations in chunks (about 1 MiB of them at a time).
TEST(KernelOrder, PackedLayoutsHandleLongPrompts) {
  const std::vector<Case> cases = packed_cases();
  if (cases.empty()) GTEST_SKIP() << "no kernel set here packs weights";
  for (const auto [set, type] : cases) {
    const TypeKernels& fast = *set->for_type(type);
    const TypeKernels& ref = *scalar_kernels().for_type(type);
    const int64_t n = 1536;
    const int rows = 20, nt = 700;
    const Matrix w = quantized_rows(type, rows, n, 51, 0);
    std::vector<uint8_t> packed(fast.packed_bytes(rows, n));
    fast.pack(w.data(), w.stride, rows, n, packed.data());
    const Matrix a = activations(ref, nt, n, 52);
    std::vector<float> got(static_cast<size_t>(rows) * nt);
    fast.gemm_packed(n, packed.data(), 0, rows, a.data(), a.stride, nt, got.data(), rows);
    ASSERT_EQ(got, run_gemm(ref, w, rows, a, nt, n)) << set->isa << " " << dtype_name(type);
  }
}

// int8-dynamic prompts of 32+ tokens run on AMX tiles where available: exact int32 sums, so the
// outputs equal the oracle's bit for bit; row counts cross the 16-row tiles and 32-row packs,
// token counts the 32-token steps (the rest goes to the VNNI kernel).
TEST(KernelOrder, AmxInt8EqualsTheOracleBitForBit) {
  if (avx512_kernels() == nullptr || !amx_ready()) GTEST_SKIP() << "no AMX-INT8 here";
  const TypeKernels& ref = *scalar_kernels().for_type(DType::kI8_DYN);
  for (int64_t n : {64, 576, 1536}) {
    const Matrix w = quantized_rows(DType::kI8_DYN, 50, n, 41, 2);
    const Matrix a = activations(ref, 70, n, 42);
    for (int nr : {1, 15, 16, 17, 32, 33, 50}) {
      for (int nt : {32, 33, 64, 70}) {
        const int64_t ldo = nr + 3;
        std::vector<float> got(static_cast<size_t>(ldo * nt), kSentinel);
        const int done = gemm_i8_amx(n, w.data(), w.stride, nr, a.data(), a.stride, nt, got.data(), ldo);
        ASSERT_EQ(done, nt / 32 * 32);
        const std::vector<float> want = run_gemm(ref, w, nr, a, done, n);
        for (int t = 0; t < done; ++t)
          for (int r = 0; r < ldo; ++r) {
            const float v = got[static_cast<size_t>(t * ldo + r)];
            if (r < nr)
              ASSERT_EQ(v, want[static_cast<size_t>(t * nr + r)]) << "n=" << n << " nr=" << nr << " t=" << t << " r=" << r;
            else
              ASSERT_EQ(v, kSentinel) << "wrote outside the tile";
          }
      }
    }
  }
  // Rows that are not a multiple of 64 values stay with the VNNI kernel.
  const Matrix w = quantized_rows(DType::kI8_DYN, 4, 96, 1, 0);
  const Matrix a = activations(ref, 32, 96, 2);
  std::vector<float> out(4 * 32);
  EXPECT_EQ(gemm_i8_amx(96, w.data(), w.stride, 4, a.data(), a.stride, 32, out.data(), 4), 0);
}

TEST_P(FastVsScalar, LongPromptChunks) {
  // Enough tokens that the prepared activations are processed in several chunks.
  const auto [set, type] = GetParam();
  const TypeKernels& fast = *set->for_type(type);
  const TypeKernels& ref = *scalar_kernels().for_type(type);
  const int64_t n = 2048;
  const int nt = 300;
  const Matrix w = quantized_rows(type, 6, n, 21, type == DType::kF32 ? 4 : 2);
  const Matrix a_fast = activations(fast, nt, n, 22);
  const Matrix a_ref = activations(ref, nt, n, 22);
  EXPECT_LT(nmse(run_gemm(ref, w, 6, a_ref, nt, n), run_gemm(fast, w, 6, a_fast, nt, n)), 1e-10);
}

TEST_P(FastVsScalar, ExtremeValues) {
  // Saturating inputs: all weights at their extremes (Q8_0: -127/127, nibbles 0/15) against
  // activations at +-127, which would overflow int16 intermediates if a kernel got them wrong.
  const auto [set, type] = GetParam();
  const TypeKernels& fast = *set->for_type(type);
  const TypeKernels& ref = *scalar_kernels().for_type(type);
  const int64_t n = 1536;
  std::vector<float> wx(static_cast<size_t>(4 * n)), ax(static_cast<size_t>(3 * n));
  for (size_t i = 0; i < wx.size(); ++i) wx[i] = (i * 7919 % 3 == 0) ? -100.0f : 100.0f;
  for (size_t i = 0; i < ax.size(); ++i) ax[i] = (i % 5 < 2) ? -1.0f : 1.0f;
  Matrix w;
  w.stride = row_bytes(type, n);
  w.buf.resize(4 * w.stride);
  for (int r = 0; r < 4; ++r) quantize_row_ref(type, wx.data() + r * n, w.data() + r * w.stride, n);
  auto acts = [&](const TypeKernels& k) {
    Matrix m;
    m.stride = row_bytes(k.act_type, n);
    m.buf.resize(3 * m.stride);
    for (int t = 0; t < 3; ++t) k.convert_act(ax.data() + t * n, m.data() + t * m.stride, n);
    return m;
  };
  EXPECT_LT(nmse(run_gemm(ref, w, 4, acts(ref), 3, n), run_gemm(fast, w, 4, acts(fast), 3, n)),
            1e-10);
}

INSTANTIATE_TEST_SUITE_P(AllSets, FastVsScalar, ::testing::ValuesIn(all_cases()),
                         [](const auto& p) {
                           std::string name = p.param.set->isa;
                           name += '_';
                           name += dtype_name(p.param.type);
                           return name;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(FastVsScalar);  // a CPU without AVX2

// ---- the scalar oracle against float64 arithmetic ----------------------------------------------

class ScalarOracle : public ::testing::TestWithParam<DType> {};

TEST_P(ScalarOracle, MatchesDequantizedDot) {
  const DType type = GetParam();
  const TypeKernels& k = *scalar_kernels().for_type(type);
  const int64_t n = 1536;
  const Matrix w = quantized_rows(type, 5, n, 31, 0);
  const Matrix a = activations(k, 4, n, 32);
  const std::vector<float> got = run_gemm(k, w, 5, a, 4, n);
  std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
  std::vector<float> want;
  for (int t = 0; t < 4; ++t) {
    dequantize_row_ref(k.act_type, a.data() + t * a.stride, af.data(), n);
    for (int r = 0; r < 5; ++r) {
      dequantize_row_ref(type, w.data() + r * w.stride, wf.data(), n);
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += double(wf[i]) * af[i];
      want.push_back(static_cast<float>(s));
    }
  }
  // Only float rounding separates the two, except for Q4_1 (and Q4_G128Z, Q5_1), whose min term uses the Q8_1
  // activation's s = d * sum(q) rounded to f16 (relative error 2^-11 per block).
  const bool min_term = type == DType::kQ4_1 || type == DType::kQ4_G128Z || type == DType::kQ5_1;
  EXPECT_LT(nmse(want, got), min_term ? 1e-5 : 1e-9) << dtype_name(type);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ScalarOracle, ::testing::ValuesIn(kWeightTypes),
                         [](const auto& p) { return std::string(dtype_name(p.param)); });

// Q8_0 / Q8_1 activations round like ggml's x86 run-time quantizer (nearest even after
// multiplying by 127 / amax), not like its reference (half away from zero after 1 / d); Q8_K
// activations are the reference.
TEST(ScalarOracle, ActivationRoundingIsGgmlsRunTimeOne) {
  // amax = 127, so x * (127 / amax) = x exactly and every tie shows its rounding.
  const float ties[8] = {-127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 3.5f, -126.5f};
  const int8_t even[8] = {-127, 2, -2, 0, 0, 2, 4, -126};
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = ties[i % 8];
  for (DType w : {DType::kQ4_0, DType::kQ4_1}) {
    const TypeKernels& k = *scalar_kernels().for_type(w);
    std::vector<uint8_t> out(row_bytes(k.act_type, 32));
    k.convert_act(x.data(), out.data(), 32);
    const size_t qs = k.act_type == DType::kQ8_1 ? 4 : 2;  // after d (and s)
    for (int i = 0; i < 32; ++i) EXPECT_EQ(static_cast<int8_t>(out[qs + i]), even[i % 8]) << i;
  }
}

TEST(ScalarOracle, QuantizationErrorIsSmall) {
  // The end-to-end result (quantized weights and activations) is close to the float product.
  for (DType type : kWeightTypes) {
    const TypeKernels& k = *scalar_kernels().for_type(type);
    const int64_t n = 1024;
    const std::vector<float> wx = gaussian(static_cast<size_t>(n), 41);
    const std::vector<float> ax = gaussian(static_cast<size_t>(n), 42);
    std::vector<uint8_t> w(row_bytes(type, n)), a(row_bytes(k.act_type, n));
    quantize_row_ref(type, wx.data(), w.data(), n);
    k.convert_act(ax.data(), a.data(), n);
    float got = 0;
    k.gemm(n, w.data(), w.size(), 1, a.data(), a.size(), 1, &got, 1);
    double want = 0;
    for (int64_t i = 0; i < n; ++i) want += double(wx[i]) * ax[i];
    // |error| relative to ||w|| ||a|| (the dot of random vectors is ~ sqrt(n), far smaller).
    // Q2_K's weights carry ~30 % rms error (nmse 0.09), so its bound is wider.
    EXPECT_LT(std::fabs(got - want) / n, type == DType::kQ2_K ? 0.03 : 0.01) << dtype_name(type);
  }
}

// ---- selection
// -----------------------------------------------------------------------------------

TEST(KernelSelection, ScalarSupportsEveryWeightType) {
  EXPECT_STREQ(scalar_kernels().isa, "scalar");
  for (DType t : kWeightTypes) EXPECT_NE(scalar_kernels().for_type(t), nullptr);
  EXPECT_EQ(scalar_kernels().for_type(DType::kQ8_K), nullptr);  // an activation-only type
}

TEST(KernelSelection, SetsFollowCpuFeatures) {
  EXPECT_EQ(avx2_kernels() != nullptr, cpu_features().has_avx2_level());
  EXPECT_EQ(avx512_kernels() != nullptr, cpu_features().has_avx512_level());
}

TEST(KernelSelection, CapParsing) {
  EXPECT_EQ(parse_isa_cap("scalar"), Isa::kScalar);
  EXPECT_EQ(parse_isa_cap("avx2"), Isa::kAvx2);
  EXPECT_EQ(parse_isa_cap("avx512"), Isa::kAvx512);
  EXPECT_EQ(parse_isa_cap(nullptr), Isa::kAvx512);
  EXPECT_EQ(parse_isa_cap("bogus"), Isa::kAvx512);
}

TEST(KernelSelection, CapIsAnUpperBound) {
  EXPECT_STREQ(best_kernels_up_to(Isa::kScalar).isa, "scalar");
  const bool has2 = cpu_features().has_avx2_level();
  const bool has512 = cpu_features().has_avx512_level();
  EXPECT_STREQ(best_kernels_up_to(Isa::kAvx2).isa, has2 ? "avx2" : "scalar");
  EXPECT_STREQ(best_kernels_up_to(Isa::kAvx512).isa,
               has512 ? "avx512" : (has2 ? "avx2" : "scalar"));
}

TEST(KernelSelection, BestKernelsHonorsTheEnvironment) {
  // best_kernels() reads JOULE_ISA once per process; check it against the start-up value, then
  // check the same path (getenv -> parse -> cap) with a changed environment.
  const char* start = std::getenv("JOULE_ISA");
  EXPECT_STREQ(best_kernels().isa, best_kernels_up_to(parse_isa_cap(start)).isa);
  const std::string saved = start ? start : "";
  ASSERT_EQ(setenv("JOULE_ISA", "scalar", 1), 0);
  EXPECT_STREQ(best_kernels_up_to(parse_isa_cap(std::getenv("JOULE_ISA"))).isa, "scalar");
  ASSERT_EQ(setenv("JOULE_ISA", "avx2", 1), 0);
  EXPECT_STRNE(best_kernels_up_to(parse_isa_cap(std::getenv("JOULE_ISA"))).isa, "avx512");
  if (start)
    setenv("JOULE_ISA", saved.c_str(), 1);
  else
    unsetenv("JOULE_ISA");
}

}  // namespace
}  // namespace joule::cpu
