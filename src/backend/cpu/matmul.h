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

// Bytes of w in the layout ks's kernels prefer for its type (TypeKernels::pack); 0 where ks has no
// packed layout for it or packing is off.
size_t packed_bytes(const Matrix& w, const KernelSet& ks);
// Packs w into dst (packed_bytes(w, ks) bytes, 64-byte aligned, outliving every use of w) and
// sets w.packed. Only where packed_bytes(w, ks) > 0.
void pack_matrix(Matrix& w, const KernelSet& ks, uint8_t* dst);
// False when JOULE_PACK=0 is set (read once per process): weights are then used in place from
// the model file and never packed, for A/B measurements.
bool packing_enabled();

}  // namespace joule::cpu
