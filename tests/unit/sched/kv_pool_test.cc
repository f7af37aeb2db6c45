// The KV block pool: all-or-nothing allocation, reference counts, the prefix cache (chained
// hashes, longest match, duplicates) and least-recently-used eviction of cached blocks.
#include "sched/kv_pool.h"

#include <gtest/gtest.h>

#include <numeric>

namespace joule::sched {
namespace {

std::vector<TokenId> iota_tokens(int n, TokenId first = 0) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Allocates blocks for `tokens` and publishes its full blocks, as a finished prefill would.
std::vector<BlockId> cache_sequence(KvBlockPool& pool, std::span<const TokenId> tokens) {
  auto table = pool.allocate(pool.blocks_for(int64_t(tokens.size())));
  EXPECT_TRUE(table.has_value());
  BlockHash parent = kRootHash;
  const size_t bt = size_t(pool.block_tokens());
  for (size_t i = 0; i < tokens.size() / bt; ++i)
    parent = pool.publish((*table)[i], parent, tokens.subspan(i * bt, bt));
  return *table;
}

TEST(KvBlockPool, AllocatesAllOrNothingAndNeverOverAllocates) {
  KvBlockPool pool(4, 16);
  EXPECT_EQ(pool.blocks_for(0), 0);
  EXPECT_EQ(pool.blocks_for(16), 1);
  EXPECT_EQ(pool.blocks_for(17), 2);

  auto a = pool.allocate(3);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, (std::vector<BlockId>{0, 1, 2}));
  EXPECT_FALSE(pool.allocate(2).has_value());  // one left: nothing is taken
  EXPECT_EQ(pool.stats().free_blocks, 1);
  EXPECT_EQ(pool.stats().used_blocks, 3);
  EXPECT_DOUBLE_EQ(pool.stats().usage(), 0.75);

  auto b = pool.allocate(1);
  ASSERT_TRUE(b.has_value());
  EXPECT_FALSE(pool.allocate(1).has_value());
  EXPECT_EQ(pool.available_blocks(), 0);

  pool.release(*a);
  EXPECT_EQ(pool.stats().free_blocks, 3);
  EXPECT_EQ(pool.ref_count((*a)[0]), 0);
  EXPECT_EQ(pool.ref_count((*b)[0]), 1);
  pool.release(*b);
  EXPECT_EQ(pool.stats().used_blocks, 0);
  EXPECT_DOUBLE_EQ(pool.stats().usage(), 0.0);
}

TEST(KvBlockPool, FindsTheLongestChainOfCachedFullBlocks) {
  KvBlockPool pool(8, 4);
  const std::vector<TokenId> seq = iota_tokens(10);  // two full blocks and two tokens
  const std::vector<BlockId> table = cache_sequence(pool, seq);
  EXPECT_EQ(pool.stats().cached_blocks, 2);  // the partial third block is not shared

  EXPECT_EQ(pool.find_prefix(seq).blocks, (std::vector<BlockId>{table[0], table[1]}));
  EXPECT_EQ(pool.find_prefix(std::span(seq).first(7)).blocks, (std::vector<BlockId>{table[0]}));

  std::vector<TokenId> second_differs = seq;
  second_differs[5] = 99;
  EXPECT_EQ(pool.find_prefix(second_differs).blocks, (std::vector<BlockId>{table[0]}));

  // The same second block after a different first block is a different chain.
  std::vector<TokenId> first_differs = seq;
  first_differs[0] = 99;
  EXPECT_TRUE(pool.find_prefix(first_differs).blocks.empty());

  const PrefixMatch m = pool.find_prefix(seq);
  EXPECT_EQ(m.last_hash, chain_hash(chain_hash(kRootHash, std::span(seq).first(4)), std::span(seq).subspan(4, 4)));
  EXPECT_EQ(m.query_tokens, 10);
  // Finding takes nothing.
  EXPECT_EQ(pool.ref_count(table[0]), 1);
  EXPECT_EQ(pool.stats().prefix_query_tokens, 0);
}

TEST(KvBlockPool, SharedPrefixBlocksAreReferenceCounted) {
  KvBlockPool pool(8, 4);
  const std::vector<TokenId> seq = iota_tokens(9);
  const std::vector<BlockId> a = cache_sequence(pool, seq);  // 3 blocks, 2 cached

  const PrefixMatch m = pool.find_prefix(seq);
  auto b = pool.allocate_with_prefix(m, 1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(*b, (std::vector<BlockId>{a[0], a[1], 3}));
  EXPECT_EQ(pool.ref_count(a[0]), 2);
  EXPECT_EQ(pool.ref_count(a[2]), 1);
  EXPECT_EQ(pool.stats().used_blocks, 4);
  EXPECT_EQ(pool.stats().prefix_query_tokens, 9);
  EXPECT_EQ(pool.stats().prefix_hit_tokens, 8);

  pool.release(a);
  EXPECT_EQ(pool.ref_count(a[0]), 1);  // still b's
  EXPECT_EQ(pool.stats().used_blocks, 3);
  EXPECT_EQ(pool.stats().free_blocks, 5);  // a's private third block
  pool.release(*b);
  const KvPoolStats s = pool.stats();
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.evictable_blocks, 2);  // cached blocks outlive their users
  EXPECT_EQ(s.cached_blocks, 2);
  EXPECT_EQ(s.free_blocks, 6);
}

TEST(KvBlockPool, EvictsCachedBlocksOnlyForAnAllocationLeastRecentlyUsedFirst) {
  KvBlockPool pool(6, 4);
  const std::vector<TokenId> old_seq = iota_tokens(8, 0);
  const std::vector<TokenId> new_seq = iota_tokens(8, 100);
  pool.release(cache_sequence(pool, old_seq));  // released first: least recently used
  pool.release(cache_sequence(pool, new_seq));
  EXPECT_EQ(pool.stats().evictable_blocks, 4);

  // Free blocks go first: the cache is untouched.
  auto two = pool.allocate(2);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(pool.stats().cached_blocks, 4);

  // One more: the old sequence's tail goes (released tail first), its head stays findable.
  auto one = pool.allocate(1);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(pool.find_prefix(old_seq).blocks.size(), 1u);
  EXPECT_EQ(pool.find_prefix(new_seq).blocks.size(), 2u);

  // A prefix hit makes blocks recently used and unavailable for eviction while referenced.
  auto reused = pool.allocate_with_prefix(pool.find_prefix(old_seq), 0);
  ASSERT_TRUE(reused.has_value());
  EXPECT_EQ(pool.stats().evictable_blocks, 2);
  auto last_two = pool.allocate(2);  // evicts the new sequence's blocks, not the referenced one
  ASSERT_TRUE(last_two.has_value());
  EXPECT_TRUE(pool.find_prefix(new_seq).blocks.empty());
  EXPECT_EQ(pool.find_prefix(old_seq).blocks.size(), 1u);
  EXPECT_FALSE(pool.allocate(1).has_value());
  EXPECT_EQ(pool.stats().used_blocks, 6);
}

TEST(KvBlockPool, AllocationWithPrefixIsAllOrNothing) {
  KvBlockPool pool(3, 4);
  const std::vector<TokenId> seq = iota_tokens(8);
  pool.release(cache_sequence(pool, seq));  // 2 evictable, 1 free
  const PrefixMatch m = pool.find_prefix(seq);
  ASSERT_EQ(m.blocks.size(), 2u);

  // The prefix's evictable blocks cannot also serve as fresh ones.
  EXPECT_FALSE(pool.allocate_with_prefix(m, 2).has_value());
  KvPoolStats s = pool.stats();
  EXPECT_EQ(s.evictable_blocks, 2);
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.prefix_query_tokens, 0);  // a refused admission is no query

  auto t = pool.allocate_with_prefix(m, 1);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->size(), 3u);
  s = pool.stats();
  EXPECT_EQ(s.used_blocks, 3);
  EXPECT_EQ(s.evictable_blocks, 0);
  EXPECT_EQ(s.prefix_hit_tokens, 8);
}

TEST(KvBlockPool, ADuplicateOfACachedBlockStaysPrivate) {
  KvBlockPool pool(4, 4);
  const std::vector<TokenId> seq = iota_tokens(4);
  auto a = pool.allocate(1);
  auto b = pool.allocate(1);
  ASSERT_TRUE(a && b);
  const BlockHash ha = pool.publish((*a)[0], kRootHash, seq);
  const BlockHash hb = pool.publish((*b)[0], kRootHash, seq);  // computed at the same time
  EXPECT_EQ(ha, hb);  // the chain goes on from either
  EXPECT_EQ(pool.stats().cached_blocks, 1);
  EXPECT_EQ(pool.find_prefix(seq).blocks, *a);
  pool.release(*b);
  EXPECT_EQ(pool.stats().free_blocks, 3);  // freed, not evictable
  pool.release(*a);
  EXPECT_EQ(pool.stats().evictable_blocks, 1);
}

}  // namespace
}  // namespace joule::sched
