// The OpenAI HTTP API's request and response bodies, without HTTP: parsing and validating a
// /v1/chat/completions or /v1/completions body into what the engine needs, and the JSON of
// errors, answers and stream chunks. Pure functions, so they are unit-tested and fuzzed alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/batch_engine.h"
#include "tokenizer/chat_template.h"

namespace joule::serve {

// An error as the OpenAI API returns it: {"error": {"message", "type", "param", "code"}} with an
// HTTP status (400 invalid_request_error, 401 authentication_error, 404 not_found_error,
// 413 invalid_request_error, 429 rate_limit_error, 500 server_error, 503 unavailable_error).
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // the offending field ("temperature", "messages[2].content"); "" if none
  std::string code;   // a machine-readable code where one helps ("context_length_exceeded")
  int retry_after_s = 1;  // 429: when to try again (the Retry-After header)
};
std::string_view error_type(int status);
nlohmann::json error_json(const ApiError& e);
ApiError error_from_status(const Status& s);
ApiError shutting_down_error();  // 503 while the server drains  // kInvalidArgument 400, kResourceExhausted 429, else 500

enum class Endpoint { kChat, kCompletions };

// What a request asks for, validated; the prompt is still text (or token ids), not yet tokenized.
struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                  // as asked; "" when the field is absent
  std::vector<ChatMessage> messages;  // chat
  std::string prompt;                 // completions, as text ...
  std::optional<std::vector<TokenId>> prompt_tokens;  // ... or as token ids
  GenerationParams gen;         // max_tokens -1: absent, the rest of the context (as vLLM)
  bool seed_given = false;    // without a seed each request samples differently (as OpenAI)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with usage
  // Log-probabilities of the chosen tokens with this many alternatives each (completions'
  // `logprobs`: 0-5; chat's `logprobs: true` with `top_logprobs`: 0-20); nullopt: none.
  std::optional<int> logprobs;
  bool echo = false;  // completions: the prompt is repeated in the answer (with its logprobs)
  // A joule extension: the request's class, "urgent" | "normal" | "low"; nullopt when absent
  // (the X-Priority header, else normal).
  std::optional<sched::Priority> priority;
};

struct ParseLimits {
  int max_json_depth = 64;      // deeper nesting is refused before parsing
  size_t max_stop_strings = 4096;
  size_t max_stop_bytes = 1024;  // per stop string
};

// Parses and validates a body; on failure the error names the field. Unknown fields are ignored
// (clients send vendor extensions), but a known field with a wrong type or range is an error.
std::optional<ApiError> parse_request(Endpoint ep, std::string_view body, const ParseLimits& limits,
                                      CompletionRequest* out);

// How deep the body's arrays and objects nest (strings skipped); stops counting past `limit`.
int json_depth(std::string_view body, int limit);
// A request body as a JSON object: an error for nesting deeper than max_depth (refused before
// parsing), invalid JSON or another JSON type. Every endpoint's parser starts here.
std::optional<ApiError> parse_json_object(std::string_view body, int max_depth, nlohmann::json* out);
// 400 naming the offending field (`param`, "" for the body as a whole).
ApiError bad_request(std::string param, std::string message);

// One token's log-probability and its most likely alternatives (for `logprobs`).
struct TokenLogprob {
  std::string token;
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // most likely first
};

// Energy of one request, split as docs/serving.md says.
struct RequestEnergy {
  double energy_j = 0;
  double prefill_j = 0;
  double decode_j = 0;
  double duration_s = 0;  // the steps the request was in, summed (avg_power_w divides by it)
  std::string source;     // counter / sampled / estimated
  std::vector<std::string> domains;
};
// usage.energy: energy_j, prefill_j, decode_j, j_per_token (per completion token), avg_power_w,
// source, domains.
nlohmann::json energy_json(const RequestEnergy& e, int completion_tokens);

// A whole answer or one stream chunk. Text pieces are what the engine emitted (whole UTF-8).
struct Answer {
  std::string id;  // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;
  std::string model;
  std::string text;
  std::string finish_reason;  // "stop" / "length"; "" while streaming
  std::vector<TokenLogprob> logprobs;
  std::vector<TokenLogprob> echo_logprobs;  // completions with echo: the prompt's tokens first
  std::string echo_text;
};
struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::optional<RequestEnergy> energy;
};
nlohmann::json answer_json(Endpoint ep, const Answer& a, const Usage& u);
// A chunk of a stream: the delta text (chat: with the role in the first chunk), or the final
// chunk with finish_reason; usage chunks have no choices (OpenAI's include_usage).
nlohmann::json chunk_json(Endpoint ep, const Answer& a, bool first);
nlohmann::json usage_chunk_json(Endpoint ep, const Answer& a, const Usage& u);
nlohmann::json usage_json(const Usage& u);

// Serializes for the wire: invalid UTF-8 in generated text becomes U+FFFD instead of throwing.
std::string dump(const nlohmann::json& j);

}  // namespace joule::serve
