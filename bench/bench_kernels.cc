// CPU matmul kernels per ISA and weight type on SmolLM2-135M shapes (W: rows x n).
//
//   nt = 1   (decode, a matrix-vector product): reported as weight bytes/s; this is memory-bound,
//            so compare with the machine's single-core bandwidth.
//   nt = 8   (serving: eight streams decoding together; packed layouts only, the kernels serve
//            uses): FLOP/s, as prefill.
//   nt = 128 (prefill): reported as FLOP/s, 2 * rows * n * nt per call.
// attend/...: one column's attention (three heads of one kv head) per key, cache-hot.
// The activation conversion (convert_act) is timed separately. Single-threaded.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "quant/fp16.h"
#include "quant/reference.h"
#include "quant/types.h"

namespace joule::cpu {
namespace {

struct Shape {
  int rows;
  int64_t n;
};
constexpr Shape kShapes[] = {{576, 576}, {1536, 576}, {576, 1536}, {49152, 576}};
constexpr DType kTypes[] = {DType::kF32,   DType::kF16,    DType::kBF16,    DType::kQ8_0,     DType::kQ4_0,
                            DType::kQ4_1,  DType::kQ5_0,   DType::kQ5_1,    DType::kQ2_K,     DType::kQ3_K,
                            DType::kQ4_K,  DType::kQ5_K,   DType::kQ6_K,    DType::kI8_CH,    DType::kI8_DYN,
                            DType::kF16_S24, DType::kQ4_G128, DType::kQ4_G128Z};

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// The weight matrix of the last benchmark, kept across its repetitions. Rows repeat every 64
// (quantizing 28M values with the reference k-quant search would dominate the run time); the
// memory traffic is the same.
const std::vector<uint8_t>& weights(DType t, Shape s) {
  static std::vector<uint8_t> w;
  static DType type;
  static Shape shape{0, 0};
  if (shape.rows != s.rows || shape.n != s.n || type != t) {
    const size_t rb = row_bytes(t, s.n);
    constexpr int kDistinct = 64;
    const std::vector<float> x = gaussian(static_cast<size_t>(kDistinct * s.n), 1);
    w.assign(rb * s.rows, 0);
    for (int r = 0; r < kDistinct && r < s.rows; ++r)
      quantize_row_ref(t, x.data() + r * s.n, w.data() + r * rb, s.n);
    for (int r = kDistinct; r < s.rows; ++r)
      std::memcpy(w.data() + r * rb, w.data() + (r % kDistinct) * rb, rb);
    type = t;
    shape = s;
  }
  return w;
}

std::vector<uint8_t> activations(const TypeKernels& k, int nt, int64_t n) {
  const std::vector<float> x = gaussian(static_cast<size_t>(nt * n), 2);
  const size_t rb = row_bytes(k.act_type, n);
  std::vector<uint8_t> a(rb * nt);
  for (int t = 0; t < nt; ++t) k.convert_act(x.data() + t * n, a.data() + t * rb, n);
  return a;
}

// packed: the kernels' load-time layout (TypeKernels::pack) instead of the file's.
void bench_gemm(benchmark::State& state, const KernelSet* set, DType t, Shape s, int nt, bool packed) {
  const TypeKernels& k = *set->for_type(t);
  const std::vector<uint8_t>& w = weights(t, s);
  const std::vector<uint8_t> a = activations(k, nt, s.n);
  std::vector<float> out(static_cast<size_t>(s.rows) * nt);
  std::vector<uint8_t> wp;
  if (packed) {
    wp.resize(k.packed_bytes(s.rows, s.n));
    k.pack(w.data(), row_bytes(t, s.n), s.rows, s.n, wp.data());
  }
  for (auto _ : state) {
    if (packed)
      k.gemm_packed(s.n, wp.data(), 0, s.rows, a.data(), row_bytes(k.act_type, s.n), nt, out.data(), s.rows);
    else
      k.gemm(s.n, w.data(), row_bytes(t, s.n), s.rows, a.data(), row_bytes(k.act_type, s.n), nt,
             out.data(), s.rows);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (nt == 1) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * w.size()));
  } else {
    state.counters["FLOP/s"] =
        benchmark::Counter(2.0 * s.rows * s.n * nt, benchmark::Counter::kIsIterationInvariantRate);
  }
}

void bench_convert(benchmark::State& state, const KernelSet* set, DType t, int64_t n, int nt) {
  const TypeKernels& k = *set->for_type(t);
  const std::vector<float> x = gaussian(static_cast<size_t>(nt * n), 3);
  const size_t rb = row_bytes(k.act_type, n);
  std::vector<uint8_t> a(rb * nt);
  for (auto _ : state) {
    for (int i = 0; i < nt; ++i) k.convert_act(x.data() + i * n, a.data() + i * rb, n);
    benchmark::DoNotOptimize(a.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * nt * n));
}

// One column's attention for the three query heads of one kv head (SmolLM2-135M: head_dim 64),
// over n_keys positions of a paged cache laid out as the server's (16-position blocks, rows
// kv_dim = 192 apart, blocks scattered); cache-hot, so this is the compute per key.
void bench_attend(benchmark::State& state, AttendFn attend, bool single_token) {
  constexpr int kHeadDim = 64, kHeads = 3, kKvDim = 192, kBlock = 16, kBlocks = 64;
  const int n_keys = static_cast<int>(state.range(0));
  const std::vector<float> kv = gaussian(size_t(kBlocks) * kBlock * kKvDim, 4);
  std::vector<f16_bits> k(kv.size()), v(kv.size());
  for (size_t i = 0; i < kv.size(); ++i) k[i] = f32_to_f16(kv[i]), v[i] = f32_to_f16(kv[(i * 7) % kv.size()]);
  std::vector<size_t> rows(n_keys);
  for (int j = 0; j < n_keys; ++j) rows[j] = (size_t((j / kBlock) * 37 % kBlocks) * kBlock + j % kBlock) * kKvDim;
  const std::vector<float> q = gaussian(size_t(kHeads) * kHeadDim, 5);
  std::vector<float> scores(size_t(kHeads) * n_keys), out(size_t(kHeads) * kHeadDim);
  const AttendArgs a{.q = q.data(), .k = k.data(), .v = v.data(), .rows = rows.data(), .n_keys = n_keys,
                     .head_dim = kHeadDim, .scale = 0.125f, .scores = scores.data(), .out = out.data(),
                     .single_token = single_token, .n_heads = kHeads};
  for (auto _ : state) {
    attend(a);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n_keys));
}

bool register_all() {
  for (bool single : {true, false})
    benchmark::RegisterBenchmark(single ? "attend/best/single" : "attend/best/batched", bench_attend,
                                 best_attend(64), single)
        ->Arg(16)->Arg(64)->Arg(150)->Arg(300)->Arg(1000)->Unit(benchmark::kMicrosecond);
  std::vector<const KernelSet*> sets = {&scalar_kernels()};
  if (const KernelSet* k = avx2_kernels()) sets.push_back(k);
  if (const KernelSet* k = avx512_kernels()) sets.push_back(k);
  for (const KernelSet* set : sets) {
    const bool scalar = std::string(set->isa) == "scalar";
    for (DType t : kTypes) {
      const std::string ty(dtype_name(t));
      for (int nt : {1, 8, 128}) {
        for (Shape s : kShapes) {
          if (s.n % traits(t).block_size != 0) continue;  // k-quants need n % 256 == 0
          // The scalar oracle takes seconds per prefill call on the big shapes.
          if (scalar && nt > 1 && s.rows * s.n > 576 * 576) continue;
          std::string shape = "/";
          shape += std::to_string(s.rows) + "x" + std::to_string(s.n) + "/nt:" + std::to_string(nt);
          for (bool packed : {false, true}) {
            if (packed && set->for_type(t)->pack == nullptr) continue;
            if (nt == 8 && !packed) continue;
            const std::string name =
                std::string(packed ? "gemm_packed/" : "gemm/") + set->isa + "/" + ty + shape;
            benchmark::RegisterBenchmark(name.c_str(), bench_gemm, set, t, s, nt, packed)
                ->Unit(benchmark::kMicrosecond);
          }
        }
      }
    }
    for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ4_K}) {  // Q8_0, Q8_1, Q8_K activations
      const std::string name = std::string("convert_act/") + set->isa + "/" +
                               std::string(dtype_name(set->for_type(t)->act_type)) + "/1536/nt:128";
      benchmark::RegisterBenchmark(name.c_str(), bench_convert, set, t, int64_t{1536}, 128)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}

const bool kRegistered = register_all();

}  // namespace
}  // namespace joule::cpu
