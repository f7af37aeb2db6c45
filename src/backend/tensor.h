// Views of weight data as it lies in the model file (never dequantized; copied only into a
// kernel's packed layout, see `packed`).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/types.h"

namespace joule {

// A row-major matrix of `rows` x `cols` values of `type` (GGUF dims: ne0 = cols, ne1 = rows).
struct Matrix {
  DType type = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;  // bytes between rows
  // The same values in a CPU kernel's own layout, made at load time (cpu::pack_matrix), and the
  // cpu::TypeKernels entry whose pack() made it; null when the kernels read `data` directly.
  // `data` stays valid either way (row lookups, conversion, other kernel sets use it).
  const uint8_t* packed = nullptr;
  const void* packed_for = nullptr;

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride; }
  size_t bytes() const { return static_cast<size_t>(rows) * row_stride; }
};

}  // namespace joule
