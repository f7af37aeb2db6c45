// Multi-threaded matrix products on the CPU: y = x W^T for a batch of activation rows.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/kernels.h"
#include "backend/tensor.h"
#include "core/thread_pool.h"

namespace joule::cpu {

// Reusable buffer for activations converted to a weight type's activation format.
struct MatmulScratch {
  std::vector<uint8_t> act;
};

// x: nt rows of W.cols floats; y: nt rows of W.rows floats (row stride ldy >= W.rows).
void matmul(const Matrix& w, const float* x, int nt, float* y, int64_t ldy, const KernelSet& ks,
            ThreadPool& pool, MatmulScratch& scratch);

// Whether `ks` can multiply by a matrix of this type and shape.
bool supports_matmul(const KernelSet& ks, const Matrix& w);

}  // namespace joule::cpu
