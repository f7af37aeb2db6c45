// The step loop of joule serve without HTTP: each step the scheduler plans which tokens of which
// requests run, the model runs them all as one batch (forward_batch over the shared block cache),
// and each request that produced logits samples its next token with its own sampler. The
// scheduler owns order and memory; this class owns the model side (cache, samplers, end of
// sequence), so either can be tested alone.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/generate.h"
#include "engine/sampler.h"
#include "engine/stop_strings.h"
#include "model/forward.h"
#include "sched/scheduler.h"
#include "serve/energy_ledger.h"
#include "tokenizer/tokenizer.h"

namespace joule::serve {

struct GenerationParams {
  SamplerParams sampler;
  int max_tokens = 128;
  std::vector<std::string> stop;  // generation ends before the first of these (OpenAI's `stop`)
  int logprobs = -1;  // >= 0: each token's log-probability with this many alternatives
  // Also the prompt's tokens' log-probabilities (from the second token on), with `logprobs`
  // alternatives each (OpenAI's echo with logprobs); the prompt is then computed in full.
  bool prompt_logprobs = false;
};

// A sampled token's log-probability under the model (log-softmax of its logits, before
// temperature and truncation, as vLLM and OpenAI report it) and the most likely alternatives.
struct TokenLogprobs {
  TokenId token = 0;  // the chosen (or, for a prompt, the given) token
  float logprob = 0;
  std::vector<std::pair<TokenId, float>> top;  // most likely first
};
TokenLogprobs token_logprobs(const float* logits, int n_vocab, TokenId chosen, int top_n);

// What one request produced in a step: its token, the text now safe to send (whole UTF-8
// characters, nothing a stop string could still claim), and how it ended, if it did.
struct Emitted {
  uint64_t request_id = 0;
  TokenId token = 0;
  std::string text;
  sched::FinishReason finish = sched::FinishReason::kNone;
  std::optional<TokenLogprobs> logprobs;  // when the request asked for them
};

class BatchEngine {
 public:
  // The cache has one block per block of the scheduler's pool and steps as large as its
  // max_batch_tokens; scheduler, model and tokenizer outlive this.
  BatchEngine(const Model& model, const Tokenizer& tok, sched::Scheduler& scheduler, ThreadPool& threads,
              const cpu::KernelSet& ks);

  // Queues a request (the scheduler's errors: kInvalidArgument, kResourceExhausted).
  Status submit(uint64_t id, std::vector<TokenId> prompt, const GenerationParams& params, double arrival_s,
                sched::Priority priority = sched::Priority::kNormal);
  // Ends a request now (a client that went away).
  Status cancel(uint64_t id);

  bool idle() const { return scheduler_.idle(); }  // no live request
  void set_admission(const std::array<bool, sched::kNumPriorities>& admit) { scheduler_.set_admission(admit); }
  sched::SchedulerStats stats() const { return scheduler_.stats(); }

  // Runs one step; what each request produced in it (an empty list when nothing could run).
  Expected<std::vector<Emitted>> step();

  // Requests that ended since the last call (their streams are dropped).
  std::vector<sched::Request> take_finished();

  // Prompt log-probabilities computed in the last step, per request in prompt order: each
  // position once, even when a preempted request computes its prompt again.
  struct PromptLogprobs {
    uint64_t request_id = 0;
    int first_position = 0;  // of the first entry (>= 1)
    std::vector<TokenLogprobs> logprobs;
  };
  const std::vector<PromptLogprobs>& last_prompt_logprobs() const { return prompt_lps_; }

  // The tokens each request computed in the last step (for dividing its energy).
  const std::vector<StepShare>& last_shares() const { return shares_; }

 private:
  const Model& model_;
  const Tokenizer& tok_;
  sched::Scheduler& scheduler_;
  ThreadPool& threads_;
  const cpu::KernelSet& ks_;
  KvCache kv_;
  BatchScratch scratch_;
  struct Stream {  // per request: sampling and the text sent so far
    Sampler sampler;
    Utf8Stream utf8;
    StopMatcher stop;
    int logprobs = -1;
    bool prompt_logprobs = false;
    int prompt_lp_next = 1;  // the next prompt position whose log-probability is due
    std::string finish() { return stop.push(utf8.flush()).text + stop.flush(); }  // what is held back
  };
  std::unordered_map<uint64_t, Stream> streams_;
  void collect_prompt_logprobs(const sched::StepItem& it, Stream& st, const float* rows);
  std::vector<float> logits_;
  std::vector<StepShare> shares_;
  std::vector<PromptLogprobs> prompt_lps_;
};

}  // namespace joule::serve
