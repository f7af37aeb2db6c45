#include "core/thread_pool.h"

#include <algorithm>
#include <immintrin.h>

#include "core/check.h"

namespace joule {
namespace {

// Spins this many polls (~tens of microseconds) before blocking: long enough to bridge the gap
// between consecutive ops of one forward pass, short enough not to burn a core while idle.
constexpr int kSpinPolls = 1 << 14;

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int polls = 0;
    uint64_t g;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (++polls < kSpinPolls) {
        _mm_pause();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(index, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  if (n_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  fn(0, n_threads_);
  int polls = 0;
  int left;
  while ((left = pending_.load(std::memory_order_acquire)) != 0) {
    if (++polls < kSpinPolls) {
      _mm_pause();
    } else {
      pending_.wait(left, std::memory_order_acquire);
    }
  }
  job_ = nullptr;
}

void split_range(int64_t n, int64_t align, int index, int count, int64_t* begin, int64_t* end) {
  JOULE_CHECK(align >= 1 && count >= 1 && index >= 0 && index < count);
  const int64_t units = (n + align - 1) / align;
  const int64_t per = units / count, extra = units % count;
  const int64_t u0 = index * per + std::min<int64_t>(index, extra);
  const int64_t u1 = u0 + per + (index < extra ? 1 : 0);
  *begin = std::min(n, u0 * align);
  *end = std::min(n, u1 * align);
}

void ThreadPool::parallel_for(int64_t n, int64_t align,
                              const std::function<void(int64_t, int64_t)>& fn) {
  run([&](int index, int count) {
    int64_t b, e;
    split_range(n, align, index, count, &b, &e);
    if (b < e) fn(b, e);
  });
}

}  // namespace joule
