// An OpenAI-compatible server as an evaluation engine: log-likelihoods through /completions
// with echo + logprobs (remote/echo_scoring.h), greedy generations through /completions with
// the task's stop strings, `concurrency` requests in flight so a GPU engine stays busy.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "engine/eval_engine.h"
#include "remote/client.h"

namespace joule::remote {

class RemoteEvalEngine final : public EvalEngine {
 public:
  RemoteEvalEngine(Client client, int concurrency);

  // One scoring request on a short prompt: kUnsupported (naming what is missing) when the
  // server cannot return a prompt's log-probabilities, so log-likelihood tasks are refused
  // before any time is spent on them.
  Status check_scoring();

  Expected<std::vector<std::vector<ContinuationScore>>> score(const std::vector<ScoreRequest>& requests,
                                                              const BatchProgress& progress) override;
  Expected<std::vector<Generation>> generate(const std::vector<GenRequest>& requests,
                                             const BatchProgress& progress) override;
  // Every request's prompt and continuation tokens: the server's prefix reuse is not visible.
  ScoreStats stats() const override;

  const Client& client() const { return client_; }

 private:
  Expected<ContinuationScore> score_one(const std::string& context, const std::string& continuation);
  Expected<Generation> generate_one(const GenRequest& r) const;

  Client client_;
  int concurrency_;
  std::atomic<int> scoring_max_tokens_{0};  // 1 once the server refuses max_tokens 0
  mutable std::mutex stats_mu_;
  ScoreStats stats_;
};

}  // namespace joule::remote
