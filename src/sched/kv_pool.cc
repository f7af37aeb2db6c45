#include "sched/kv_pool.h"

#include <openssl/evp.h>

#include <cstring>

#include "core/check.h"

namespace joule::sched {

BlockHash chain_hash(const BlockHash& parent, std::span<const TokenId> block_token_ids) {
  // Token ids in host byte order: the hashes never leave the process.
  BlockHash out{};
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, parent.data(), parent.size()) == 1 &&
                  EVP_DigestUpdate(ctx, block_token_ids.data(), block_token_ids.size_bytes()) == 1 &&
                  EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
  EVP_MD_CTX_free(ctx);
  JOULE_CHECK(ok && len == out.size());  // SHA-256 is part of every libcrypto build
  return out;
}

size_t KvBlockPool::HashOfHash::operator()(const BlockHash& h) const {
  size_t v = 0;  // the hash is already uniform: any of its bytes will do
  std::memcpy(&v, h.data(), sizeof v);
  return v;
}

KvBlockPool::KvBlockPool(int n_blocks, int block_tokens) : block_tokens_(block_tokens) {
  JOULE_CHECK(n_blocks > 0 && block_tokens > 0);
  blocks_.resize(size_t(n_blocks));
  free_.reserve(size_t(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is handed out first
}

void KvBlockPool::check_counts() const {
  JOULE_CHECK(used_ >= 0 && used_ + available_blocks() == n_blocks());
  JOULE_CHECK(by_hash_.size() >= lru_.size());
}

BlockId KvBlockPool::take_fresh() {
  BlockId b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    JOULE_CHECK(!lru_.empty());
    b = lru_.front();
    lru_.pop_front();
    Block& evicted = blocks_[size_t(b)];
    JOULE_CHECK(evicted.cached && evicted.refs == 0);
    by_hash_.erase(evicted.hash);
    evicted.cached = false;
  }
  Block& blk = blocks_[size_t(b)];
  JOULE_CHECK(blk.refs == 0 && !blk.cached);
  blk.refs = 1;
  ++used_;
  return b;
}

std::optional<std::vector<BlockId>> KvBlockPool::allocate(int n) {
  JOULE_CHECK(n >= 0);
  if (n > available_blocks()) return std::nullopt;
  std::vector<BlockId> out;
  out.reserve(size_t(n));
  for (int i = 0; i < n; ++i) out.push_back(take_fresh());
  check_counts();
  return out;
}

PrefixMatch KvBlockPool::find_prefix(std::span<const TokenId> tokens) const {
  PrefixMatch m;
  m.query_tokens = int(tokens.size());
  const size_t n_full = tokens.size() / size_t(block_tokens_);
  for (size_t i = 0; i < n_full; ++i) {
    const BlockHash h = chain_hash(m.last_hash, tokens.subspan(i * size_t(block_tokens_), size_t(block_tokens_)));
    const auto it = by_hash_.find(h);
    if (it == by_hash_.end()) break;
    m.blocks.push_back(it->second);
    m.last_hash = h;
  }
  return m;
}

std::optional<std::vector<BlockId>> KvBlockPool::allocate_with_prefix(const PrefixMatch& prefix, int n_new) {
  JOULE_CHECK(n_new >= 0);
  // Evictable prefix blocks stop being available once referenced: count them out first, so the
  // fresh blocks can never evict the prefix being taken.
  int prefix_evictable = 0;
  for (const BlockId b : prefix.blocks) {
    const Block& blk = blocks_.at(size_t(b));
    JOULE_CHECK(blk.cached);  // find_prefix's result is stale: a pool call came in between
    if (blk.refs == 0) ++prefix_evictable;
  }
  if (n_new > available_blocks() - prefix_evictable) return std::nullopt;

  std::vector<BlockId> table;
  table.reserve(prefix.blocks.size() + size_t(n_new));
  for (const BlockId b : prefix.blocks) {
    Block& blk = blocks_[size_t(b)];
    if (blk.refs++ == 0) {
      lru_.erase(blk.lru);
      ++used_;
    }
    table.push_back(b);
  }
  for (int i = 0; i < n_new; ++i) table.push_back(take_fresh());
  prefix_query_tokens_ += prefix.query_tokens;
  prefix_hit_tokens_ += int64_t(prefix.blocks.size()) * block_tokens_;
  check_counts();
  return table;
}

void KvBlockPool::release(std::span<const BlockId> table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) {
    Block& blk = blocks_.at(size_t(*it));
    JOULE_CHECK(blk.refs > 0);  // released more often than referenced
    if (--blk.refs > 0) continue;
    --used_;
    if (blk.cached) {
      blk.lru = lru_.insert(lru_.end(), *it);
    } else {
      free_.push_back(*it);
    }
  }
  check_counts();
}

BlockHash KvBlockPool::publish(BlockId block, const BlockHash& parent, std::span<const TokenId> block_token_ids) {
  JOULE_CHECK(int(block_token_ids.size()) == block_tokens_);  // only full blocks are shared
  Block& blk = blocks_.at(size_t(block));
  JOULE_CHECK(blk.refs > 0 && !blk.cached);
  const BlockHash h = chain_hash(parent, block_token_ids);
  if (by_hash_.emplace(h, block).second) {
    blk.cached = true;
    blk.hash = h;
  }
  return h;
}

KvPoolStats KvBlockPool::stats() const {
  KvPoolStats s;
  s.total_blocks = n_blocks();
  s.used_blocks = used_;
  s.evictable_blocks = int(lru_.size());
  s.free_blocks = int(free_.size());
  s.cached_blocks = int(by_hash_.size());
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  return s;
}

}  // namespace joule::sched
