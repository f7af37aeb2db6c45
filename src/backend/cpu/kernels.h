// CPU matmul kernels, one table per ISA, chosen at run time.
//
// A weight matrix W has `rows` rows of `n` values each, stored row-major in its own DType (rows are
// `w_stride` bytes apart). Activations arrive as f32 rows and are first converted to the weight
// type's activation format `act_type`: Q8_0 for Q4_0/Q8_0 weights, Q8_1 for Q4_1, Q8_K for the
// k-quants, as ggml does, so integer dot products can be used; I8_ACT (one scale per token) for
// joule's dynamic int8 weights. F32, F16 and BF16 weights take
// f32 activations (ggml rounds them to f16/bf16): widening only the weights is exact and no slower.
//
// The scalar reference table is the oracle: every fast table is tested against it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace joule::cpu {

struct TypeKernels {
  DType act_type = DType::kF32;  // activation format for this weight type
  // Converts one activation row of n floats into act_type (n a multiple of both block sizes).
  void (*convert_act)(const float* x, void* out, int64_t n) = nullptr;
  // out[t * ldo + r] = dot(W row r, activation row t) for r in [0, nr), t in [0, nt).
  // w: row 0 of the tile; a: activation row 0 (act_type), rows a_stride bytes apart.
  void (*gemm)(int64_t n, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nt, float* out, int64_t ldo) = nullptr;

  // Optional: a layout of the whole matrix made once at load time (pack) that these kernels
  // multiply faster than the file layout; nullptr where they read the file layout. Rows are packed
  // in groups of kPackRows, so a tile starts at a row r0 that is a multiple of it; gemm_packed
  // takes the packed matrix and r0 where gemm takes row 0 of the tile, and is otherwise gemm.
  size_t (*packed_bytes)(int64_t rows, int64_t n) = nullptr;
  void (*pack)(const void* w, size_t w_stride, int64_t rows, int64_t n, void* dst) = nullptr;
  void (*gemm_packed)(int64_t n, const void* wp, int64_t r0, int nr, const void* a,
                      size_t a_stride, int nt, float* out, int64_t ldo) = nullptr;
};
constexpr int kPackRows = 16;

// One entry per weight type joule multiplies by; every set covers all of them.
struct WeightKernels {
  TypeKernels f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q6_k, i8_ch, i8_dyn, f16_s24, q4_g128, q4_g128z, q5_0, q5_1,
      q2_k, q3_k, q5_k;
};

struct KernelSet {
  const char* isa = "";  // "scalar", "avx2", "avx512"
  WeightKernels kernels;
  // Kernels for a weight type, or nullptr if joule has none for it (kernels.cc).
  const TypeKernels* for_type(DType w) const;
};

const KernelSet& scalar_kernels();
const KernelSet* avx2_kernels();    // nullptr if the CPU lacks AVX2+FMA+F16C
const KernelSet* avx512_kernels();  // nullptr if the CPU lacks the AVX-512 level (core/cpu_features.h)
// The fastest set this CPU supports; JOULE_ISA=scalar|avx2|avx512 in the environment caps it.
const KernelSet& best_kernels();

}  // namespace joule::cpu
