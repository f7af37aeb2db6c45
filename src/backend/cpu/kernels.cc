// Kernel-set selection: the scalar oracle, the per-ISA tables behind a CPU check, and the
// JOULE_ISA cap.
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "backend/cpu/kernels_internal.h"
#include "core/cpu_features.h"

namespace joule::cpu {

const TypeKernels* KernelSet::for_type(DType w) const {
  switch (w) {
    case DType::kF32: return &kernels.f32;
    case DType::kF16: return &kernels.f16;
    case DType::kBF16: return &kernels.bf16;
    case DType::kQ8_0: return &kernels.q8_0;
    case DType::kQ4_0: return &kernels.q4_0;
    case DType::kQ4_1: return &kernels.q4_1;
    case DType::kQ5_0: return &kernels.q5_0;
    case DType::kQ5_1: return &kernels.q5_1;
    case DType::kQ2_K: return &kernels.q2_k;
    case DType::kQ3_K: return &kernels.q3_k;
    case DType::kQ4_K: return &kernels.q4_k;
    case DType::kQ5_K: return &kernels.q5_k;
    case DType::kQ6_K: return &kernels.q6_k;
    case DType::kI8_CH: return &kernels.i8_ch;
    case DType::kI8_DYN: return &kernels.i8_dyn;
    case DType::kF16_S24: return &kernels.f16_s24;
    case DType::kQ4_G128: return &kernels.q4_g128;
    case DType::kQ4_G128Z: return &kernels.q4_g128z;
    default: return nullptr;
  }
}

const KernelSet& scalar_kernels() { return scalar_table(); }

const KernelSet* avx2_kernels() {
  return cpu_features().has_avx2_level() ? &avx2_table() : nullptr;
}

const KernelSet* avx512_kernels() {
  if (!cpu_features().has_avx512_level()) return nullptr;
  // Q2_K, Q3_K and Q5_K take AVX2's kernels, which every AVX-512 CPU runs (kernels_avx512.cc says
  // why).
  static const KernelSet set = [] {
    KernelSet s = avx512_table();
    s.kernels.q2_k = avx2_table().kernels.q2_k;
    s.kernels.q3_k = avx2_table().kernels.q3_k;
    s.kernels.q5_k = avx2_table().kernels.q5_k;
    return s;
  }();
  return &set;
}

Isa parse_isa_cap(const char* value) {
  if (value == nullptr) return Isa::kAvx512;
  if (std::strcmp(value, "scalar") == 0) return Isa::kScalar;
  if (std::strcmp(value, "avx2") == 0) return Isa::kAvx2;
  return Isa::kAvx512;
}

const KernelSet& best_kernels_up_to(Isa cap) {
  if (cap >= Isa::kAvx512) {
    if (const KernelSet* k = avx512_kernels()) return *k;
  }
  if (cap >= Isa::kAvx2) {
    if (const KernelSet* k = avx2_kernels()) return *k;
  }
  return scalar_kernels();
}

// Decided once per process: the environment is read on the first call.
const KernelSet& best_kernels() {
  static const KernelSet& best = best_kernels_up_to(parse_isa_cap(std::getenv("JOULE_ISA")));
  return best;
}

void* thread_scratch(size_t bytes) {
  struct AlignedFree {
    void operator()(void* p) const { ::operator delete(p, std::align_val_t{64}); }
  };
  thread_local std::unique_ptr<void, AlignedFree> buf;
  thread_local size_t capacity = 0;
  if (bytes > capacity) {
    const size_t rounded = (bytes + 4095) & ~size_t{4095};
    buf.reset();
    buf.reset(::operator new(rounded, std::align_val_t{64}));
    capacity = rounded;
  }
  return buf.get();
}

}  // namespace joule::cpu
