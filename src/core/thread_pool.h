// A fixed pool of worker threads for data-parallel kernels.
//
// Decode runs a few hundred parallel sections per token, so dispatch must cost microseconds:
// workers spin briefly on an atomic generation counter before blocking (C++20 atomic wait), and
// the calling thread takes part as thread 0. The pool never has more threads than asked for,
// and callers size it to the physical cores (never oversubscribe).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace joule {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // total threads including the caller; >= 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index, n_threads) on every thread (the caller is index 0); returns when all
  // are done. Not re-entrant: fn must not call run() on the same pool.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into one contiguous range per thread, each a multiple of `align` (except the
  // last), and calls fn(begin, end) for the non-empty ranges.
  void parallel_for(int64_t n, int64_t align, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// Splits [0, n) for thread `index` of `count`, ranges aligned to `align`.
void split_range(int64_t n, int64_t align, int index, int count, int64_t* begin, int64_t* end);

}  // namespace joule
