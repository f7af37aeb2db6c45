#include "remote/echo_scoring.h"

#include <cmath>
#include <string_view>
#include <vector>

#include "core/strings.h"

namespace joule::remote {
namespace {

using nlohmann::json;

// Where each prompt token's text ends, in the unit `boundary` is given in.
struct Spans {
  std::vector<double> end;
  double boundary = 0;
};

// By the tokens' own text, in bytes: exact when the echoed tokens spell the prompt (every token
// is whole UTF-8), perhaps after a start-of-text token's text.
bool spans_from_tokens(const json& tokens, size_t n_prompt, const EchoPrompt& p, Spans* out) {
  std::string spelled;
  std::vector<double> end;
  for (size_t i = 0; i < n_prompt; ++i) {
    if (!tokens[i].is_string()) return false;
    spelled += tokens[i].get<std::string>();
    end.push_back(static_cast<double>(spelled.size()));
  }
  if (spelled.size() < p.text.size() || spelled.compare(spelled.size() - p.text.size(), p.text.size(), p.text) != 0)
    return false;
  out->end = std::move(end);
  out->boundary = static_cast<double>(spelled.size() - p.text.size() + p.continuation_at);
  return true;
}

// By `text_offset` (characters, as OpenAI and vLLM count them) into the echoed text.
bool spans_from_offsets(const json& logprobs, const std::string& text, size_t n_prompt, const EchoPrompt& p,
                        Spans* out) {
  if (!logprobs.contains("text_offset") || !logprobs["text_offset"].is_array()) return false;
  const json& off = logprobs["text_offset"];
  const size_t at = text.find(p.text);
  if (at == std::string::npos || off.size() < n_prompt) return false;
  const double prompt_end = static_cast<double>(utf8_length(std::string_view(text).substr(0, at + p.text.size())));
  for (size_t i = 0; i < n_prompt; ++i) {
    const json& next = i + 1 < off.size() ? off[i + 1] : json(prompt_end);
    if (!next.is_number()) return false;
    out->end.push_back(i + 1 < n_prompt ? next.get<double>() : prompt_end);
  }
  out->boundary = static_cast<double>(utf8_length(std::string_view(text).substr(0, at + p.continuation_at)));
  return true;
}

}  // namespace

EchoPrompt echo_prompt(const std::string& context, const std::string& continuation) {
  // The same whitespace as joule's own scorer (engine/loglik.cc) moves.
  const size_t keep = context.find_last_not_of(" \t\n\r") + 1;  // npos + 1 == 0
  return {context + continuation, keep};
}

json echo_request(const std::string& model, const EchoPrompt& p, int max_tokens) {
  return {{"model", model},   {"prompt", p.text}, {"max_tokens", max_tokens}, {"echo", true},
          {"logprobs", 1},    {"temperature", 0}};
}

Expected<ContinuationScore> score_from_echo(const json& answer, const EchoPrompt& p) {
  if (!answer.is_object() || !answer.contains("choices") || !answer["choices"].is_array() ||
      answer["choices"].empty() || !answer["choices"][0].is_object())
    return FormatError("the answer has no choices");
  const json& choice = answer["choices"][0];
  const json* lp = choice.contains("logprobs") ? &choice["logprobs"] : nullptr;
  if (lp == nullptr || !lp->is_object() || !lp->contains("tokens") || !(*lp)["tokens"].is_array() ||
      !lp->contains("token_logprobs") || !(*lp)["token_logprobs"].is_array())
    return Unsupported("the server answered without the prompt's log-probabilities (it ignores echo or logprobs)");
  const json& tokens = (*lp)["tokens"];
  const json& token_lps = (*lp)["token_logprobs"];
  const json* tops = lp->contains("top_logprobs") && (*lp)["top_logprobs"].is_array() ? &(*lp)["top_logprobs"] : nullptr;
  if (token_lps.size() != tokens.size()) return FormatError("logprobs.tokens and logprobs.token_logprobs differ in length");
  // The echoed prompt's tokens come first; the generated ones (max_tokens 1) are left out.
  size_t generated = 0;
  if (answer.contains("usage") && answer["usage"].is_object() && answer["usage"].contains("completion_tokens") &&
      answer["usage"]["completion_tokens"].is_number_integer() && answer["usage"]["completion_tokens"].get<int64_t>() > 0)
    generated = answer["usage"]["completion_tokens"].get<size_t>();
  if (generated > tokens.size()) return FormatError("usage.completion_tokens exceeds the tokens returned");
  const size_t n_prompt = tokens.size() - generated;
  if (n_prompt == 0) return Unsupported("the server did not echo the prompt's tokens");

  const std::string text = choice.contains("text") && choice["text"].is_string() ? choice["text"].get<std::string>() : "";
  Spans spans;
  if (!spans_from_tokens(tokens, n_prompt, p, &spans) && !spans_from_offsets(*lp, text, n_prompt, p, &spans))
    return FormatError("the echoed prompt does not match the prompt sent (neither its tokens nor its text contain it)");

  ContinuationScore score;
  score.greedy = true;
  for (size_t i = 0; i < n_prompt; ++i) {
    if (spans.end[i] <= spans.boundary) continue;
    if (!token_lps[i].is_number()) {
      if (i == 0) return InvalidArgument("the continuation starts the prompt, and no server scores a prompt's first token: give a context");
      return FormatError("prompt token " + std::to_string(i) + " has no log-probability");
    }
    const double lp_i = token_lps[i].get<double>();
    score.logprob += lp_i;
    ++score.n_tokens;
    // Greedy when no alternative the server lists is more likely (ties count as greedy).
    if (tops != nullptr && i < tops->size() && (*tops)[i].is_object())
      for (const auto& [tok, alt] : (*tops)[i].items())
        if (alt.is_number() && alt.get<double>() > lp_i + 1e-9) score.greedy = false;
  }
  if (score.n_tokens == 0) return FormatError("no echoed token covers the continuation");
  return score;
}

}  // namespace joule::remote
