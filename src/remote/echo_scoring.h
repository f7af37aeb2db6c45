// Log-likelihoods from an OpenAI-compatible /completions answer, as lm-evaluation-harness's
// `local-completions` model gets them: the server echoes the prompt (context + continuation)
// with each prompt token's log-probability (`echo: true`, `logprobs`, `max_tokens: 0`), and the
// continuation's score is the sum over the tokens past the continuation's character offset.
//
// The split is by text because the client has no tokenizer: the tokens whose text ends after
// the continuation's first character are the continuation's. Where the server's tokens do not
// straddle that boundary (almost always: the harness moves the context's trailing whitespace
// to the continuation, and BPE merges a space with the word after it), this is exactly the
// harness's split by the context's token count; a straddling token is counted with the
// continuation (its probability covers continuation text).
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "engine/loglik.h"

namespace joule::remote {

struct EchoPrompt {
  std::string text;            // context + continuation
  size_t continuation_at = 0;  // byte offset in text where the scored part starts
};

// The harness's pair: the context's trailing whitespace belongs to the continuation.
EchoPrompt echo_prompt(const std::string& context, const std::string& continuation);

// The body that asks for it (max_tokens 0, or 1 for servers that refuse 0; the generated token
// is then left out).
nlohmann::json echo_request(const std::string& model, const EchoPrompt& p, int max_tokens);

// The continuation's score from the answer. kUnsupported when the answer has no prompt
// log-probabilities (the server ignores `echo` or `logprobs`); kFormat when the echoed text does
// not contain the prompt or the arrays disagree; kInvalidArgument when the continuation would
// include the first prompt token (which no server scores: give a context).
Expected<ContinuationScore> score_from_echo(const nlohmann::json& answer, const EchoPrompt& p);

}  // namespace joule::remote
