// Memory read bandwidth, the ceiling of decode speed: decoding a token reads every weight once,
// so tokens/s <= bandwidth / bytes_per_token.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace joule::cpu {

struct BandwidthResult {
  double read_gb_s = 0;  // best of the repetitions, 1e9 bytes per second
  size_t buffer_bytes = 0;
  int threads = 0;
};

// Streams a buffer much larger than the caches with all pool threads (each its own slice).
BandwidthResult measure_read_bandwidth(ThreadPool& pool, size_t buffer_bytes = size_t(512) << 20,
                                       int reps = 5);

// Sums n floats with the widest loads this CPU has (the value only defeats dead-code removal).
float read_sum(const float* x, size_t n);
float read_sum_avx2(const float* x, size_t n);  // membw_avx2.cc; call only with AVX2

}  // namespace joule::cpu
