// The transformer forward pass on the CPU (llama / qwen2), read top to bottom in forward.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/kernels.h"
#include "backend/cpu/matmul.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/model.h"

namespace joule {

using TokenId = int32_t;

// K/V memory in blocks of `block_tokens` positions, laid out [block][layer][position][kv_dim] in
// f16 (llama.cpp's default cache type), on huge pages where the OS grants them: a step's
// attention reads every sequence's blocks scattered over the pool right after the matmuls have
// streamed the weights through the caches, and with 4 KiB pages most of those reads also missed
// the TLB. A sequence's positions live in the blocks its block table
// names, in order (position p in blocks[p / block_tokens]). One sequence with one block of n_ctx
// positions is the plain contiguous cache; a server shares one pool among many sequences.
class KvCache {
 public:
  KvCache(const ModelConfig& c, int n_blocks, int block_tokens);
  int n_blocks() const { return n_blocks_; }
  int block_tokens() const { return block_tokens_; }
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;
  size_t bytes() const { return 2 * elements_ * sizeof(f16_bits); }
  // The first position of `block` in `layer`; positions follow kv_dim apart.
  f16_bits* k(int block, int layer) { return k_ + offset(block, layer); }
  f16_bits* v(int block, int layer) { return v_ + offset(block, layer); }
  // Where a position lives, in elements from k(0, layer) (or v(0, layer)), the same in every
  // layer: attention reads a sequence's blocks in place through these offsets.
  size_t row(int block, int position_in_block) const {
    return offset(block, 0) + size_t(position_in_block) * kv_dim_;
  }

 private:
  size_t offset(int block, int layer) const {
    return (size_t(block) * n_layers_ + layer) * size_t(block_tokens_) * kv_dim_;
  }
  int n_blocks_, block_tokens_, n_layers_, kv_dim_;
  size_t elements_;                  // of K, and of V
  std::shared_ptr<uint8_t> memory_;  // K then V
  f16_bits* k_;
  f16_bits* v_;
};

// Which logits an item of a batch wants.
enum class Logits { kNone, kLast, kAll };

// One sequence's share of a forward step: its `tokens` at positions pos0.. , its block table
// (covering every position up to pos0 + tokens.size()), and which logits it needs.
struct BatchItem {
  std::span<const TokenId> tokens;
  int pos0 = 0;
  std::span<const int32_t> blocks;
  Logits logits = Logits::kLast;
  // The query is its sequence's only token in the caller's step: attention then sums in
  // llama.cpp's single-token order (ggml_vec_dot_f16) rather than its batched one. Set from the
  // sequence, never from the batch, so a request's numbers do not depend on what it runs with.
  bool single_token = false;
};

// Scratch for a step of up to `max_tokens` tokens (all items together) whose sequences reach at
// most `max_positions` positions; reused across steps.
class BatchScratch {
 public:
  BatchScratch(const ModelConfig& c, int max_tokens, int max_positions);
  int max_tokens() const { return max_tokens_; }
  int max_positions() const { return max_positions_; }

 private:
  friend Status forward_batch(const Model&, KvCache&, std::span<const BatchItem>, float*, BatchScratch&,
                              ThreadPool&, const cpu::KernelSet&);
  int max_tokens_, max_positions_;
  std::vector<float> x_, xn_, q_, k_new_, v_new_, attn_, gate_, up_;
  std::vector<float> qkv_;     // [tokens][q + 2 kv] of a fused QKV matmul; fused_qkv only
  std::vector<float> rope_cos_[2], rope_sin_[2];  // per column: global layers' angles, local layers'
  std::vector<float> scores_;  // [thread][max_positions]
  std::vector<size_t> rows_;   // each item's positions resolved through its block table (KvCache::row)
  cpu::MatmulScratch mm_;
};

// Runs every item's tokens as the columns of one pass (each weight matrix multiplied once for the
// whole step), appends their keys and values to their blocks, and writes the logits the items ask
// for, item after item (n_vocab floats per row). kInvalidArgument for a token id out of range, an
// item past its block table or the scratch's limits.
Status forward_batch(const Model& model, KvCache& kv, std::span<const BatchItem> items, float* logits,
                     BatchScratch& scratch, ThreadPool& pool, const cpu::KernelSet& ks);

// One sequence with a contiguous cache: `joule run`, chat, perplexity and scoring. The Model it
// was made for must outlive it.
class ForwardState {
 public:
  // max_batch: tokens per forward step of a long prompt. 128 keeps a step's activations
  // (about 1 MB for SmolLM2) in the per-core L2, which measured faster at 2 threads than 256 or
  // 512 (docs/benchmarks.md).
  ForwardState(const Model& model, int n_ctx, int max_batch = 128);

  int n_ctx() const { return n_ctx_; }
  int n_past() const { return n_past_; }
  // Forget everything after the first n tokens (n <= n_past): the prefix stays cached.
  void truncate(int n);
  size_t kv_bytes() const { return kv_.bytes(); }

 private:
  friend Status forward(const Model&, ForwardState&, std::span<const TokenId>, bool, float*,
                        ThreadPool&, const cpu::KernelSet&);
  int n_ctx_;
  int max_batch_;
  int n_past_ = 0;
  KvCache kv_;  // one block of n_ctx positions
  BatchScratch scratch_;
};

// Runs `tokens` at positions n_past.. and appends them to the cache, in steps of at most
// max_batch tokens. Writes logits (n_vocab floats per token) for every token when all_logits,
// else for the last token only. kInvalidArgument if the tokens do not fit in the context or an
// id is out of range.
Status forward(const Model& model, ForwardState& state, std::span<const TokenId> tokens,
               bool all_logits, float* logits, ThreadPool& pool, const cpu::KernelSet& ks);

}  // namespace joule
