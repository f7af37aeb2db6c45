// Scalar reference quantization and dequantization for every DType (the oracle for all kernels,
// and what the GGUF writer and `joule quantize` use). Algorithms follow ggml's reference code so
// results are bit-compatible with llama.cpp where ggml is deterministic.
#pragma once

#include <cstdint>

#include "quant/types.h"

namespace joule {

// x: n floats -> y: row of type t (n must be a multiple of t's block size).
void quantize_row_ref(DType t, const float* x, void* y, int64_t n);
// x: row of type t -> y: n floats.
void dequantize_row_ref(DType t, const void* x, float* y, int64_t n);
// x: row of type `from` -> y: row of type `to`, through f32 in `scratch` (n floats).
void requantize_row_ref(DType from, const void* x, DType to, void* y, int64_t n, float* scratch);

}  // namespace joule
