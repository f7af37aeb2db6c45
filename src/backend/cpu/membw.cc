#include "backend/cpu/membw.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/cpu_features.h"
#include "core/memory.h"

namespace joule::cpu {

float read_sum(const float* x, size_t n) {
  if (cpu_features().has_avx2_level()) return read_sum_avx2(x, n);
  float total = 0;
  for (size_t i = 0; i < n; ++i) total += x[i];
  return total;
}

BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes, int reps) {
  const size_t n = buffer_bytes / sizeof(float);
  // The same kind of memory as packed weights (huge pages where granted), so the ceiling is
  // measured as the weights are streamed.
  const std::shared_ptr<uint8_t> mem = alloc_huge_pages(n * sizeof(float));
  float* buf = reinterpret_cast<float*>(mem.get());
  // First touch by the threads that will read it (pages land near them), values non-zero.
  pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t b, int64_t e) {
    std::fill(buf + b, buf + e, 1.0f);
  });
  std::atomic<float> sink{0};
  double best_s = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(static_cast<int64_t>(n), 4096, [&](int64_t b, int64_t e) {
      sink.store(read_sum(buf + b, static_cast<size_t>(e - b)), std::memory_order_relaxed);
    });
    best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return {static_cast<double>(n * sizeof(float)) / best_s / 1e9, n * sizeof(float), pool.size()};
}

}  // namespace joule::cpu
