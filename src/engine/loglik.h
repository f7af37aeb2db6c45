// Log-likelihoods of continuations, as lm-evaluation-harness computes them for multiple-choice
// tasks, with the shared context evaluated once per question.
//
// Tokenization follows the harness (_encode_pair): trailing whitespace of the context moves to
// the front of the continuation; the context is encoded alone, the context + continuation
// together, and the continuation's tokens are those of the whole past the context's length. An
// empty context becomes the BOS token (the harness uses its end-of-text token). When context +
// continuation exceed the window, the context loses tokens from its left.
//
// The context goes through the model once; each continuation then runs from the cached context
// (ForwardState::truncate), so a question with k choices costs one context plus k short
// continuations instead of k full sequences. Consecutive contexts share their common leading
// tokens too (the few-shot examples of an MMLU subject, TruthfulQA's preamble): only the tokens
// after the previous context's common prefix are evaluated.
#pragma once

#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace joule {

struct ContinuationScore {
  double logprob = 0;   // sum of ln p over the continuation's tokens
  int n_tokens = 0;     // continuation tokens
  bool greedy = false;  // every continuation token is the model's most likely one
};

struct ScoreStats {
  int64_t context_tokens = 0;       // tokens evaluated for contexts
  int64_t continuation_tokens = 0;  // tokens evaluated for continuations
  int64_t naive_tokens = 0;         // what scoring each (context, continuation) whole would evaluate
};

// ln softmax(logits)[token] in double, and whether token is the most likely one (the first
// maximum on ties).
struct TokenLogProb {
  double logprob;
  bool top;
};
TokenLogProb token_log_prob(const float* logits, int n_vocab, TokenId token);

class LoglikScorer {
 public:
  // n_ctx: the window (at most the model's context).
  LoglikScorer(const Model& model, const Tokenizer& tok, int n_ctx, ThreadPool& pool,
               const cpu::KernelSet& ks);

  // One score per continuation, in order. kInvalidArgument if a continuation alone does not fit
  // the window or encodes to no tokens.
  Expected<std::vector<ContinuationScore>> score(const std::string& context,
                                                 const std::vector<std::string>& continuations);

  const ScoreStats& stats() const { return stats_; }

 private:
  const Model& model_;
  const Tokenizer& tok_;
  ThreadPool& pool_;
  const cpu::KernelSet& ks_;
  ForwardState state_;
  std::vector<TokenId> cached_;  // the context whose keys and values state_ holds first
  std::vector<float> logits_;
  ScoreStats stats_;
};

}  // namespace joule
