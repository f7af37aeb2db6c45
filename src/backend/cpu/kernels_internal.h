// Private to the CPU kernels: the per-ISA tables and helpers shared by the ISA translation units.
//
// The *_avx2.cc / *_avx512.cc files are compiled with ISA flags. Everything they define must have
// internal linkage (anonymous namespace) apart from the table accessors below, and they must not
// instantiate std templates: an inline function emitted in two translation units with different
// flags is merged by the linker, which could hand AVX-512 code to a baseline caller.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/cpu/kernels.h"

namespace joule::cpu {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The tables, defined in kernels_<isa>.cc; only call the ISA ones after the CPU check.
const KernelSet& scalar_table();
const KernelSet& avx2_table();
const KernelSet& avx512_table();

// The best set this CPU supports at or below `cap` (always at least the scalar set).
const KernelSet& best_kernels_up_to(Isa cap);

// Parses a JOULE_ISA value ("scalar", "avx2", "avx512"); anything else (or null) means no cap.
Isa parse_isa_cap(const char* value);

// AMX (kernels_amx.cc). Whether AMX int8 tiles can be used in this process: the CPU has them,
// the OS granted the tile state, and JOULE_AMX is not "0". Decided on the first call.
bool amx_ready();
// I8_DYN weights x I8_ACT activations (the gemm contract of kernels.h) on AMX for the first
// nt / 32 * 32 tokens; returns how many tokens it computed (0 when n is not a multiple of 64).
// Only after amx_ready().
int gemm_i8_amx(int64_t n, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
                int nt, float* out, int64_t ldo);

// Q4_1 packed for AVX-512 (q4_1_packed_avx512.cc), the TypeKernels packing contract of
// kernels.h. Only after the AVX-512 check.
size_t q4_1_packed_bytes(int64_t rows, int64_t n);
void pack_q4_1(const void* w, size_t w_stride, int64_t rows, int64_t n, void* dst);
void gemm_q4_1_packed(int64_t n, const void* wp, int64_t r0, int nr, const void* a, size_t a_stride,
                      int nt, float* out, int64_t ldo);

// Q8_0 packed for AVX-512 VNNI (q8_0_packed_avx512.cc), the same contract.
size_t q8_0_packed_bytes(int64_t rows, int64_t n);
void pack_q8_0(const void* w, size_t w_stride, int64_t rows, int64_t n, void* dst);
void gemm_q8_0_packed(int64_t n, const void* wp, int64_t r0, int nr, const void* a, size_t a_stride,
                      int nt, float* out, int64_t ldo);

// A per-thread, 64-byte aligned scratch buffer of at least `bytes` bytes, valid until the next
// call on the same thread. Kernels use it to repack activations.
void* thread_scratch(size_t bytes);

}  // namespace joule::cpu
