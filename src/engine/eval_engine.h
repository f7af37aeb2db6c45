// What an evaluation asks of an engine: the log-likelihoods of continuations and greedy
// generations, each for a list of requests. joule's own engine (LocalEvalEngine, below) and an
// OpenAI-compatible server (remote/) both answer it, so eval's tasks run unchanged on either.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/loglik.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace joule {

struct ScoreRequest {
  std::string context;
  std::vector<std::string> continuations;
};

struct GenRequest {
  std::string prompt;
  int max_tokens = 256;
  std::vector<std::string> stops;  // the text ends before the first of these
};

struct Generation {
  std::string text;    // greedy, cut before the first stop string
  int64_t tokens = 0;  // tokens the engine evaluated for it: prompt + generated
};

// Called as requests finish, with how many are done of how many.
using BatchProgress = std::function<void(int done, int total)>;

class EvalEngine {
 public:
  virtual ~EvalEngine() = default;
  // One list of scores per request, one score per continuation, in order.
  virtual Expected<std::vector<std::vector<ContinuationScore>>> score(const std::vector<ScoreRequest>& requests,
                                                                      const BatchProgress& progress) = 0;
  virtual Expected<std::vector<Generation>> generate(const std::vector<GenRequest>& requests,
                                                     const BatchProgress& progress) = 0;
  // Tokens evaluated so far by score() (engines that do not reuse prefixes: naive == evaluated).
  virtual ScoreStats stats() const = 0;
};

// joule's engine in this process: scores reuse the previous context's prefix (LoglikScorer),
// generations run one after another.
class LocalEvalEngine final : public EvalEngine {
 public:
  // n_ctx: the window (at most the model's context).
  LocalEvalEngine(const Model& model, const Tokenizer& tok, int n_ctx, ThreadPool& pool, const cpu::KernelSet& ks);

  Expected<std::vector<std::vector<ContinuationScore>>> score(const std::vector<ScoreRequest>& requests,
                                                              const BatchProgress& progress) override;
  Expected<std::vector<Generation>> generate(const std::vector<GenRequest>& requests,
                                             const BatchProgress& progress) override;
  ScoreStats stats() const override { return scorer_.stats(); }

 private:
  const Model& model_;
  const Tokenizer& tok_;
  int n_ctx_;
  ThreadPool& pool_;
  const cpu::KernelSet& ks_;
  LoglikScorer scorer_;
};

}  // namespace joule
