// KV-cache blocks as ids. The pool decides which block holds which tokens; the K/V memory itself
// lives in the engine, indexed by block id, so this bookkeeping is testable without a model.
//
// Sharing: a block has a reference count, so sequences with a common prefix hold the same blocks.
// Prefix cache: a full block can be published under a chained hash (SHA-256 of the parent block's
// hash and this block's token ids), which names the block's tokens together with everything before
// them; a new prompt that starts with the same full blocks finds them and skips computing them.
// A published block outlives its last user as "evictable" and is reused, least recently used first,
// only when an allocation finds no free block (as in vLLM).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace joule {

using TokenId = int32_t;  // the same alias as model/forward.h; sched does not depend on model

}  // namespace joule

namespace joule::sched {

using BlockId = int32_t;
// A cryptographic hash, not a fast 64-bit one: a prompt crafted to collide with another client's
// cached prefix would otherwise be answered from that client's K/V, leaking its prompt.
using BlockHash = std::array<uint8_t, 32>;
inline constexpr BlockHash kRootHash{};  // the parent of a sequence's first block

// The hash naming a full block: its tokens after the chain whose last block hashed to `parent`.
BlockHash chain_hash(const BlockHash& parent, std::span<const TokenId> block_token_ids);

// The cached full blocks a sequence starts with, from KvBlockPool::find_prefix.
struct PrefixMatch {
  std::vector<BlockId> blocks;
  BlockHash last_hash = kRootHash;  // of blocks.back(): the parent of the next block
  int query_tokens = 0;             // tokens looked up, for the hit statistics
};

struct KvPoolStats {
  int total_blocks = 0;
  int used_blocks = 0;       // referenced by at least one sequence
  int evictable_blocks = 0;  // cached and unreferenced: reusable by a prefix hit or an allocation
  int free_blocks = 0;       // neither used nor cached
  int cached_blocks = 0;     // in the prefix cache, used or evictable
  // Tokens of admitted sequences looked up in / found in the prefix cache (vLLM's
  // prefix_cache_queries / prefix_cache_hits, also counted in tokens).
  int64_t prefix_query_tokens = 0;
  int64_t prefix_hit_tokens = 0;

  // vLLM's kv_cache_usage_perc (a fraction): evictable blocks count as free, as there.
  double usage() const { return total_blocks > 0 ? double(used_blocks) / total_blocks : 0.0; }
};

// Not thread-safe: owned by the scheduler, which runs on the engine loop.
class KvBlockPool {
 public:
  KvBlockPool(int n_blocks, int block_tokens);

  int n_blocks() const { return int(blocks_.size()); }
  int block_tokens() const { return block_tokens_; }
  int blocks_for(int64_t n_tokens) const { return int((n_tokens + block_tokens_ - 1) / block_tokens_); }
  // What an allocation can have now: free blocks, then evictable ones.
  int available_blocks() const { return int(free_.size() + lru_.size()); }

  // n fresh blocks with one reference each. All or nothing: nullopt, and nothing changed, when
  // fewer than n are available.
  std::optional<std::vector<BlockId>> allocate(int n);

  // The longest chain of cached full blocks that `tokens` starts with. Takes no references and
  // changes nothing, so a request that then cannot be admitted leaves the LRU order and the hit
  // statistics as they were; allocate_with_prefix takes the references.
  PrefixMatch find_prefix(std::span<const TokenId> tokens) const;

  // A block table for a sequence being admitted: one more reference on each block of `prefix`
  // (from find_prefix, with no pool call in between), then n_new fresh blocks. All or nothing as
  // allocate(); on success the prefix query counts in the statistics.
  std::optional<std::vector<BlockId>> allocate_with_prefix(const PrefixMatch& prefix, int n_new);

  // Drops one reference per block. Walks the table from its end, so cached blocks become
  // evictable tail first: a chain's tail is then evicted before its head, whose loss would leave
  // the tail unreachable anyway.
  void release(std::span<const BlockId> table);

  // Publishes a referenced block holding the full block `block_token_ids` after the chain
  // `parent`; returns its hash, the next block's parent. When that hash is cached already (two
  // sequences computed the same prefix at once) this block stays private and is freed normally.
  BlockHash publish(BlockId block, const BlockHash& parent, std::span<const TokenId> block_token_ids);

  int ref_count(BlockId block) const { return blocks_.at(size_t(block)).refs; }
  KvPoolStats stats() const;

 private:
  struct HashOfHash {
    size_t operator()(const BlockHash& h) const;
  };
  struct Block {
    int refs = 0;
    bool cached = false;  // in by_hash_ under `hash`
    BlockHash hash{};
    std::list<BlockId>::iterator lru;  // valid while cached and unreferenced
  };

  BlockId take_fresh();  // a free block, else the least recently used evictable one
  void check_counts() const;

  const int block_tokens_;
  std::vector<Block> blocks_;
  std::vector<BlockId> free_;  // a stack: the most recently freed block is reused first
  std::list<BlockId> lru_;     // evictable blocks, least recently used first
  std::unordered_map<BlockHash, BlockId, HashOfHash> by_hash_;
  int used_ = 0;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace joule::sched
