// Views of weight data as it lies in the model file (never copied, never dequantized).
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

  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_stride; }
  size_t bytes() const { return static_cast<size_t>(rows) * row_stride; }
};

}  // namespace joule
