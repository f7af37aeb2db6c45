// libFuzzer target for joule serve's request parsing and validation (src/serve/api.cc, and the
// tokenizer endpoints' src/serve/tokenize_api.cc): any body on any endpoint gets an answer (accepted, or an error naming a field with a 4xx status),
// never a crash, and whatever is accepted is within the documented ranges and renders back to
// JSON as an answer would.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "serve/api.h"
#include "serve/tokenize_api.h"

namespace {

void check(joule::serve::Endpoint ep, std::string_view body) {
  using namespace joule::serve;
  CompletionRequest r;
  const std::optional<ApiError> e = parse_request(ep, body, ParseLimits{}, &r);
  if (e) {
    if (e->status < 400 || e->status >= 500 || e->message.empty()) __builtin_trap();
    (void)dump(error_json(*e));
    return;
  }
  const joule::SamplerParams& sp = r.gen.sampler;
  if (!(sp.temperature >= 0 && sp.temperature <= 2) || !(sp.top_p >= 0 && sp.top_p <= 1)) __builtin_trap();
  if (r.gen.max_tokens < -1 || (r.gen.max_tokens == 0 && !r.echo)) __builtin_trap();
  if (ep == Endpoint::kChat && r.messages.empty()) __builtin_trap();
  if (ep == Endpoint::kCompletions && r.prompt.empty() && !r.prompt_tokens) __builtin_trap();
  if (r.gen.stop.size() > ParseLimits{}.max_stop_strings) __builtin_trap();
  // What the request carried comes back in answers: generated text is arbitrary bytes too.
  Answer a;
  a.text = r.prompt;
  a.echo_text = r.messages.empty() ? "" : r.messages.front().content;
  (void)dump(answer_json(ep, a, Usage{}));
  (void)dump(chunk_json(ep, a, true));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check(joule::serve::Endpoint::kChat, body);
  check(joule::serve::Endpoint::kCompletions, body);
  joule::serve::TokenizeRequest t;
  if (auto e = joule::serve::parse_tokenize(body, &t); e && (e->status != 400 || e->message.empty())) __builtin_trap();
  std::vector<joule::TokenId> ids;
  if (auto e = joule::serve::parse_detokenize(body, 49152, &ids); e && (e->status != 400 || e->message.empty()))
    __builtin_trap();
  for (joule::TokenId id : ids)
    if (id < 0 || id >= 49152) __builtin_trap();
  return 0;
}
