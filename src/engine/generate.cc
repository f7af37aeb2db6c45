#include "engine/generate.h"

#include <chrono>
#include <vector>

namespace joule {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Length of a UTF-8 sequence from its lead byte; 1 for invalid leads (emitted as-is).
int utf8_len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 0x6) return 2;
  if ((c >> 4) == 0xe) return 3;
  if ((c >> 3) == 0x1e) return 4;
  return 1;
}

}  // namespace

std::string_view stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEndOfGeneration: return "eog";
    case StopReason::kLength: return "length";
    case StopReason::kContextFull: return "context";
    case StopReason::kCallback: return "callback";
  }
  return "?";
}

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  size_t i = 0, complete = 0;
  while (i < pending_.size()) {
    const int len = utf8_len(static_cast<unsigned char>(pending_[i]));
    if (i + len > pending_.size()) break;
    i += len;
    complete = i;
  }
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  return out;
}

std::string Utf8Stream::flush() { return std::exchange(pending_, {}); }

Expected<GenerateStats> generate(const Model& model, const Tokenizer& tok, ForwardState& state,
                                 std::span<const TokenId> prompt, const GenerateParams& params,
                                 ThreadPool& pool, const cpu::KernelSet& ks,
                                 const TextCallback& on_text) {
  JOULE_RETURN_IF_ERROR(validate(params.sampler));
  if (params.n_predict < 0) return InvalidArgument("-n must be >= 0");
  if (prompt.empty()) return InvalidArgument("the prompt is empty (no tokens to start from)");
  const int n_vocab = model.config().n_vocab;
  std::vector<float> logits(n_vocab);
  Sampler sampler(params.sampler);
  Utf8Stream utf8;
  GenerateStats stats;
  stats.n_prompt = static_cast<int>(prompt.size());

  auto t0 = Clock::now();
  JOULE_RETURN_IF_ERROR(forward(model, state, prompt, false, logits.data(), pool, ks));
  stats.prefill_ms = ms_since(t0);
  if (params.on_prefill_done) params.on_prefill_done();

  for (;;) {
    if (stats.n_generated >= params.n_predict) {
      stats.stop = StopReason::kLength;
      break;
    }
    t0 = Clock::now();
    const TokenId next = sampler.sample(logits.data(), n_vocab);
    stats.sample_ms += ms_since(t0);
    if (tok.is_eog(next)) {
      stats.stop = StopReason::kEndOfGeneration;
      break;
    }
    ++stats.n_generated;
    stats.tokens.push_back(next);
    if (std::string text = utf8.push(tok.token_to_piece(next)); !text.empty() && !on_text(text)) {
      stats.stop = StopReason::kCallback;
      break;
    }
    if (stats.n_generated >= params.n_predict) continue;  // no need to evaluate the last token
    if (state.n_past() >= state.n_ctx()) {
      stats.stop = StopReason::kContextFull;
      break;
    }
    t0 = Clock::now();
    const TokenId one[1] = {next};
    JOULE_RETURN_IF_ERROR(forward(model, state, one, false, logits.data(), pool, ks));
    stats.decode_ms += ms_since(t0);
    ++stats.n_decode_evals;
  }
  if (std::string rest = utf8.flush(); !rest.empty()) on_text(rest);
  return stats;
}

}  // namespace joule
