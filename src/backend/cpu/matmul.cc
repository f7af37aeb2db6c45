#include "backend/cpu/matmul.h"

#include <cstdlib>
#include <cstring>

#include "core/check.h"

namespace joule::cpu {
namespace {

// Rows per unit of work: a multiple of the kernels' row tile, and big enough that the per-call
// overhead vanishes, small enough that 2+ threads get even shares of a 576-row matrix.
constexpr int64_t kRowAlign = 16;
static_assert(kRowAlign % kPackRows == 0, "work units must start at packed row groups");

}  // namespace

bool packing_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("JOULE_PACK");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return on;
}

bool supports_matmul(const KernelSet& ks, const Matrix& w) {
  const TypeKernels* k = ks.for_type(w.type);
  if (k == nullptr) return false;
  // W8A8 sums a whole row in int32: exact while n * 127 * 127 (plus the VNNI offset) fits.
  if (w.type == DType::kI8_DYN && w.cols > 65536) return false;
  return w.cols % traits(w.type).block_size == 0 && w.cols % traits(k->act_type).block_size == 0;
}

size_t packed_bytes(const Matrix& w, const KernelSet& ks) {
  const TypeKernels* k = ks.for_type(w.type);
  if (k == nullptr || k->pack == nullptr || !packing_enabled() || !supports_matmul(ks, w)) return 0;
  return k->packed_bytes(w.rows, w.cols);
}

void pack_matrix(Matrix& w, const KernelSet& ks, uint8_t* dst) {
  JOULE_CHECK(packed_bytes(w, ks) > 0 && reinterpret_cast<uintptr_t>(dst) % 64 == 0);
  const TypeKernels* k = ks.for_type(w.type);
  k->pack(w.data, w.row_stride, w.rows, w.cols, dst);
  w.packed = dst;
  w.packed_for = k;
}

void matmul(const Matrix& w, const float* x, int nt, float* y, int64_t ldy, const KernelSet& ks,
            ThreadPool& pool, MatmulScratch& scratch) {
  const TypeKernels* k = ks.for_type(w.type);
  JOULE_CHECK(k != nullptr && nt >= 1 && ldy >= w.rows);
  const size_t act_stride = row_bytes(k->act_type, w.cols);
  if (scratch.act.size() < act_stride * nt) scratch.act.resize(act_stride * nt);
  uint8_t* act = scratch.act.data();

  // Converting activations is O(nt * cols), tiny next to the product; split it by token only
  // when there are several.
  if (nt == 1) {
    k->convert_act(x, act, w.cols);
  } else {
    pool.parallel_for(nt, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) k->convert_act(x + t * w.cols, act + t * act_stride, w.cols);
    });
  }
  if (w.packed != nullptr && w.packed_for == k) {
    pool.parallel_for(w.rows, kRowAlign, [&](int64_t r0, int64_t r1) {
      JOULE_CHECK(r0 % kPackRows == 0);
      k->gemm_packed(w.cols, w.packed, r0, static_cast<int>(r1 - r0), act, act_stride, nt, y + r0, ldy);
    });
    return;
  }
  pool.parallel_for(w.rows, kRowAlign, [&](int64_t r0, int64_t r1) {
    k->gemm(w.cols, w.row(r0), w.row_stride, static_cast<int>(r1 - r0), act, act_stride, nt,
            y + r0, ldy);
  });
}

}  // namespace joule::cpu
