// Text generation: prefill the prompt, then sample and decode one token at a time.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/sampler.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace joule {

struct GenerateParams {
  int n_predict = 128;  // upper bound on generated tokens
  SamplerParams sampler;
  // Called once the prompt is evaluated, before the first token is sampled (energy windows
  // split prefill from decode here).
  std::function<void()> on_prefill_done;
};

enum class StopReason { kEndOfGeneration, kLength, kContextFull, kCallback };
std::string_view stop_reason_name(StopReason r);

struct GenerateStats {
  int n_prompt = 0;
  int n_generated = 0;     // tokens sampled (the end-of-generation token not counted)
  int n_decode_evals = 0;  // single-token forward passes after the prompt
  double prefill_ms = 0;
  double decode_ms = 0;
  double sample_ms = 0;
  StopReason stop = StopReason::kLength;
  std::vector<TokenId> tokens;  // the generated ids; the first n_decode_evals are in the cache

  double prefill_tok_s() const { return prefill_ms > 0 ? n_prompt * 1e3 / prefill_ms : 0; }
  double decode_tok_s() const { return decode_ms > 0 ? n_decode_evals * 1e3 / decode_ms : 0; }
};

// Called with each complete UTF-8 piece of generated text; return false to stop.
using TextCallback = std::function<bool(std::string_view text)>;

Expected<GenerateStats> generate(const Model& model, const Tokenizer& tok, ForwardState& state,
                                 std::span<const TokenId> prompt, const GenerateParams& params,
                                 ThreadPool& pool, const cpu::KernelSet& ks,
                                 const TextCallback& on_text);

// Buffers bytes and releases only whole UTF-8 sequences, so streamed output never splits a
// character across two writes.
class Utf8Stream {
 public:
  std::string push(std::string_view bytes);  // returns what can be emitted now
  std::string flush();                       // whatever is left (possibly invalid)

 private:
  std::string pending_;
};

}  // namespace joule
