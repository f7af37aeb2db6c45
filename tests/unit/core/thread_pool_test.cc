#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace joule {
namespace {

TEST(ThreadPool, EveryThreadRunsOncePerDispatch) {
  for (int n : {1, 2, 3}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> hits(n);
    for (int rep = 0; rep < 1000; ++rep) pool.run([&](int i, int count) {
      EXPECT_EQ(count, n);
      hits[i].fetch_add(1);
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1000);
  }
}

TEST(ThreadPool, ParallelForCoversRangeExactlyOnce) {
  ThreadPool pool(2);
  for (int64_t n : {0, 1, 7, 64, 1000}) {
    std::vector<std::atomic<int>> seen(n);
    pool.parallel_for(n, 16, [&](int64_t b, int64_t e) {
      EXPECT_EQ(b % 16, 0);
      for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1);
    });
    for (auto& s : seen) EXPECT_EQ(s.load(), 1);
  }
}

TEST(ThreadPool, SplitRangeIsBalancedAndAligned) {
  int64_t b, e;
  split_range(100, 4, 0, 3, &b, &e);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(e, 36);
  split_range(100, 4, 2, 3, &b, &e);
  EXPECT_EQ(b, 68);
  EXPECT_EQ(e, 100);
}

}  // namespace
}  // namespace joule
