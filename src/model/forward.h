// The transformer forward pass on the CPU (llama / qwen2), read top to bottom in forward.cc.
#pragma once

#include <cstdint>
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

// Per-sequence state: the KV cache and scratch buffers. One per concurrent sequence; the Model
// it was made for must outlive it.
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
  size_t kv_bytes() const { return (k_.size() + v_.size()) * sizeof(f16_bits); }

 private:
  friend Status forward(const Model&, ForwardState&, std::span<const TokenId>, bool, float*,
                        ThreadPool&, const cpu::KernelSet&);
  f16_bits* k_at(int layer, int pos) { return k_.data() + (size_t(layer) * n_ctx_ + pos) * kv_dim_; }
  f16_bits* v_at(int layer, int pos) { return v_.data() + (size_t(layer) * n_ctx_ + pos) * kv_dim_; }

  int n_ctx_;
  int max_batch_;
  int kv_dim_;
  int n_past_ = 0;
  std::vector<f16_bits> k_, v_;  // [layer][pos][kv_dim], f16 as llama.cpp's default cache
  // Scratch for one batch of up to max_batch_ tokens.
  std::vector<float> x_, xn_, q_, k_new_, v_new_, attn_, gate_, up_, rope_cos_, rope_sin_;
  std::vector<float> scores_;  // [thread][n_ctx]
  cpu::MatmulScratch mm_;
};

// Runs `tokens` at positions n_past.. and appends them to the cache. Writes logits
// (n_vocab floats per token) for every token when all_logits, else for the last token only.
// kInvalidArgument if the tokens do not fit in the context or an id is out of range.
Status forward(const Model& model, ForwardState& state, std::span<const TokenId> tokens,
               bool all_logits, float* logits, ThreadPool& pool, const cpu::KernelSet& ks);

}  // namespace joule
