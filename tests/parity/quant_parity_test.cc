// joule's quantized arithmetic against ggml's own, loaded from the llama.cpp peer's
// libggml-base.so (JOULE_GGML_LIB) and libggml-cpu.so beside it:
//   * for every type both have, quantize_row_ref writes the bytes ggml's from_float_ref writes
//     (what llama-quantize writes without an importance matrix), and dequantize_row_ref gives the
//     floats ggml's to_float gives, bit for bit;
//   * for every quantized weight type, joule's dot products (scalar oracle and the fastest kernel
//     set here) against ggml-cpu's vec_dot on the same weight and activation bytes: equal up to
//     float summation order.
// Data: Gaussian rows at several scales, rows with outliers, and all-zero, constant and tiny blocks.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "quant/reference.h"
#include "quant/types.h"

namespace joule {
namespace {

// ggml.h's struct ggml_type_traits (llama.cpp as vendored by llama-cpp-python 0.3.36); the test
// checks name, block size and type size against joule's, which catches a layout change.
struct GgmlTypeTraits {
  const char* type_name;
  int64_t blck_size;
  int64_t blck_size_interleave;
  size_t type_size;
  bool is_quantized;
  void (*to_float)(const void* x, float* y, int64_t k);
  void (*from_float_ref)(const float* x, void* y, int64_t k);
};
using GetTraits = const GgmlTypeTraits* (*)(int type);

// ggml-cpu.h's struct ggml_type_traits_cpu.
struct GgmlCpuTraits {
  void (*from_float)(const float* x, void* y, int64_t k);
  void (*vec_dot)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y, size_t by, int nrc);
  int vec_dot_type;
  int64_t nrows;
};
using GetCpuTraits = const GgmlCpuTraits* (*)(int type);

void* open_lib(const std::string& path) { return dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL); }

GetTraits load_ggml() {
  const char* path = std::getenv("JOULE_GGML_LIB");
  void* lib = path ? open_lib(path) : nullptr;
  return lib ? reinterpret_cast<GetTraits>(dlsym(lib, "ggml_get_type_traits")) : nullptr;
}

// libggml-cpu.so from the directory of JOULE_GGML_LIB, initialised (its f16 tables).
GetCpuTraits load_ggml_cpu() {
  const char* path = std::getenv("JOULE_GGML_LIB");
  if (path == nullptr) return nullptr;
  std::string dir(path);
  dir = dir.substr(0, dir.rfind('/') + 1);
  void* lib = open_lib(dir + "libggml-cpu.so");
  if (lib == nullptr) return nullptr;
  auto init = reinterpret_cast<void (*)()>(dlsym(lib, "ggml_cpu_init"));
  if (init != nullptr) init();
  return reinterpret_cast<GetCpuTraits>(dlsym(lib, "ggml_get_type_traits_cpu"));
}

std::vector<float> test_rows(int64_t n, int rows) {
  std::mt19937 rng(2026);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * rows));
  for (int r = 0; r < rows; ++r) {
    float* row = x.data() + r * n;
    const float sigma = std::pow(10.0f, static_cast<float>(r % 5) - 3.0f);  // 1e-3 .. 10
    for (int64_t i = 0; i < n; ++i) row[i] = sigma * gauss(rng);
    if (r % 3 == 1)
      for (int64_t i = 0; i < n; i += 97) row[i] *= 40.0f;  // outliers
  }
  // Degenerate blocks in the last row: zeros, a constant, and tiny values.
  float* last = x.data() + (rows - 1) * n;
  for (int64_t i = 0; i < 256; ++i) last[i] = 0.0f;
  for (int64_t i = 256; i < 512; ++i) last[i] = 0.75f;
  for (int64_t i = 512; i < 768; ++i) last[i] = 1e-20f * static_cast<float>(i % 7);
  return x;
}

TEST(QuantParity, ReferenceQuantizationIsGgmls) {
  const GetTraits get = load_ggml();
  ASSERT_NE(get, nullptr) << "set JOULE_GGML_LIB to the peer's libggml-base.so (scripts/setup_peer.sh): "
                          << dlerror();
  const DType types[] = {DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                         DType::kQ8_0, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  const int64_t n = 4096;
  const int rows = 10;
  const std::vector<float> x = test_rows(n, rows);
  for (DType t : types) {
    const GgmlTypeTraits* g = get(static_cast<int>(t));
    ASSERT_NE(g, nullptr);
    ASSERT_STRCASEEQ(g->type_name, std::string(dtype_name(t)).c_str());  // ggml spells q4_K
    ASSERT_EQ(g->blck_size, traits(t).block_size) << dtype_name(t);
    ASSERT_EQ(g->type_size, traits(t).block_bytes) << dtype_name(t);
    ASSERT_NE(g->from_float_ref, nullptr);
    const size_t bytes = row_bytes(t, n);
    int rows_differing = 0;
    for (int r = 0; r < rows; ++r) {
      const float* row = x.data() + r * n;
      std::vector<uint8_t> ours(bytes), theirs(bytes);
      quantize_row_ref(t, row, ours.data(), n);
      g->from_float_ref(row, theirs.data(), n);
      if (ours != theirs) {
        ++rows_differing;
        size_t first = 0;
        while (ours[first] == theirs[first]) ++first;
        ADD_FAILURE() << dtype_name(t) << " row " << r << ": first different byte " << first << " (block "
                      << first / traits(t).block_bytes << ")";
      }
      std::vector<float> y_ours(static_cast<size_t>(n)), y_theirs(static_cast<size_t>(n));
      dequantize_row_ref(t, theirs.data(), y_ours.data(), n);
      g->to_float(theirs.data(), y_theirs.data(), n);
      EXPECT_EQ(std::memcmp(y_ours.data(), y_theirs.data(), n * sizeof(float)), 0)
          << dtype_name(t) << " row " << r << ": dequantized floats differ";
    }
    std::printf("[quant_parity] %-5s %d / %d rows byte-identical to ggml\n", std::string(dtype_name(t)).c_str(),
                rows - rows_differing, rows);
  }
}

TEST(QuantParity, DotProductsAreGgmls) {
  const GetTraits get = load_ggml();
  const GetCpuTraits get_cpu = load_ggml_cpu();
  ASSERT_NE(get, nullptr) << "set JOULE_GGML_LIB to the peer's libggml-base.so";
  ASSERT_NE(get_cpu, nullptr) << "no libggml-cpu.so beside JOULE_GGML_LIB: " << dlerror();
  const DType types[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K,
                         DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  const int64_t n = 4096;
  const int rows = 10;
  const std::vector<float> w = test_rows(n, rows);
  std::vector<float> act(static_cast<size_t>(n));
  std::mt19937 rng(7);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (float& v : act) v = gauss(rng);
  for (DType t : types) {
    const GgmlCpuTraits* g = get_cpu(static_cast<int>(t));
    ASSERT_NE(g, nullptr);
    for (const cpu::KernelSet* ks : {&cpu::scalar_kernels(), &cpu::best_kernels()}) {
      const cpu::TypeKernels& k = *ks->for_type(t);
      ASSERT_EQ(static_cast<int>(k.act_type), g->vec_dot_type) << dtype_name(t) << ": another activation format";
      // Activations converted by joule (bit-identical to ggml's converter, tested elsewhere) and
      // multiplied by each side.
      std::vector<uint8_t> a(row_bytes(k.act_type, n));
      k.convert_act(act.data(), a.data(), n);
      double max_rel = 0;
      for (int r = 0; r < rows; ++r) {
        std::vector<uint8_t> wq(row_bytes(t, n));
        quantize_row_ref(t, w.data() + r * n, wq.data(), n);
        float ours = 0, theirs = 0;
        k.gemm(n, wq.data(), wq.size(), 1, a.data(), a.size(), 1, &ours, 1);
        g->vec_dot(static_cast<int>(n), &theirs, 0, wq.data(), 0, a.data(), 0, 1);
        // Relative to the size of the terms (the sum itself may cancel).
        double scale = 0;
        std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
        dequantize_row_ref(t, wq.data(), wf.data(), n);
        dequantize_row_ref(k.act_type, a.data(), af.data(), n);
        for (int64_t i = 0; i < n; ++i) scale += std::fabs(double(wf[i]) * af[i]);
        if (scale > 0) max_rel = std::max(max_rel, std::fabs(double(ours) - theirs) / scale);
      }
      EXPECT_LT(max_rel, 1e-6) << dtype_name(t) << " on " << ks->isa;
      std::printf("[quant_parity] %-5s %-6s dot vs ggml vec_dot: max |diff| / sum|terms| %.1e\n",
                  std::string(dtype_name(t)).c_str(), ks->isa, max_rel);
    }
  }
}

}  // namespace
}  // namespace joule
