// Perplexity as llama.cpp's llama-perplexity computes it, and the divergence from a reference
// model (its --kl-divergence): the token stream is cut into chunks of n_ctx tokens, each
// evaluated from an empty cache with its first token replaced by BOS (when the model adds one),
// and only the second half of each chunk is scored, so every scored token has at least
// n_ctx / 2 tokens of context.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/forward.h"

namespace joule {

struct PerplexityParams {
  int n_ctx = 512;         // tokens per chunk
  int max_chunks = 0;      // 0 = every full chunk of the text
  TokenId bos = -1;        // written over each chunk's first token; -1 = none
};

// Sums over scored tokens; the accessors turn them into the reported figures.
struct PerplexityStats {
  int chunks = 0;
  int64_t scored = 0;
  double nll_sum = 0, nll_sq_sum = 0;  // -ln p(next token)
  // Against the reference (zero when there is none).
  double ref_nll_sum = 0;
  double kl_sum = 0, kl_sq_sum = 0;  // KL(reference || model), nats
  int64_t top1_same = 0;             // positions where both models' most likely token agree

  double ppl() const;
  double ppl_stderr() const;  // by the delta method, as llama.cpp reports it
  double ref_ppl() const;
  double kl_mean() const;
  double kl_stderr() const;
  double top1_agreement() const;
};

// Called after each chunk with the running totals.
using ChunkProgress = std::function<void(const PerplexityStats& so_far, int chunks_total)>;

// kInvalidArgument if the text has fewer than n_ctx tokens or n_ctx is outside [16, the
// model's context]; `ref` (may be null) must share the model's vocabulary.
Expected<PerplexityStats> perplexity(const Model& model, const Model* ref,
                                     std::span<const TokenId> tokens, const PerplexityParams& p,
                                     ThreadPool& pool, const cpu::KernelSet& ks,
                                     const ChunkProgress& progress = {});

}  // namespace joule
