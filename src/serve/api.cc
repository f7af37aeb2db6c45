#include "serve/api.h"

#include <cmath>
#include <limits>

#include "core/strings.h"

namespace joule::serve {
namespace {

using nlohmann::json;

// Field readers: absent (or null) leaves *out as it is; a present field of the wrong type or out
// of range is an error naming it.
std::optional<ApiError> read_number(const json& body, const char* key, double lo, double hi, double* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return bad_request(key, std::string("'") + key + "' must be a number");
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi))
    return bad_request(key, std::string("'") + key + "' must be between " + json(lo).dump() + " and " +
                                json(hi).dump() + ", got " + it->dump());
  *out = v;
  return std::nullopt;
}

std::optional<ApiError> read_int(const json& body, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return bad_request(key, std::string("'") + key + "' must be an integer");
  // Unsigned values above int64's range are out of range too, not wrapped.
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    return bad_request(key, std::string("'") + key + "' is out of range");
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    return bad_request(key, std::string("'") + key + "' must be between " + std::to_string(lo) + " and " +
                                std::to_string(hi) + ", got " + std::to_string(v));
  *out = v;
  return std::nullopt;
}

std::optional<ApiError> read_bool(const json& body, const char* key, bool* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return bad_request(key, std::string("'") + key + "' must be true or false");
  *out = it->get<bool>();
  return std::nullopt;
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
std::optional<ApiError> read_content(const json& m, const std::string& where, std::string* out) {
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return std::nullopt;  // an assistant turn with no text
  if (it->is_string()) {
    *out = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array()) return bad_request(where + ".content", "'content' must be a string or an array of text parts");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& part = (*it)[i];
    const std::string pw = where + ".content[" + std::to_string(i) + "]";
    if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") ||
        !part["text"].is_string())
      return bad_request(pw, "only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
    *out += part["text"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> read_messages(const json& body, std::vector<ChatMessage>* out) {
  auto it = body.find("messages");
  if (it == body.end()) return bad_request("messages", "'messages' is required");
  if (!it->is_array() || it->empty()) return bad_request("messages", "'messages' must be a non-empty array");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return bad_request(where, "each message must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return bad_request(where + ".role", "'role' must be a string");
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";  // OpenAI's newer name for the system role
    if (r != "system" && r != "user" && r != "assistant")
      return bad_request(where + ".role", "role '" + role->get<std::string>() +
                                              "' is not supported (system, developer, user, assistant)");
    ChatMessage msg{.role = r, .content = ""};
    if (auto e = read_content(m, where, &msg.content)) return e;
    out->push_back(std::move(msg));
  }
  return std::nullopt;
}

std::optional<ApiError> read_prompt(const json& body, CompletionRequest* out) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return bad_request("prompt", "'prompt' is required");
  const json* p = &*it;
  // A batch of prompts is n answers in one; joule answers one prompt per request.
  if (p->is_array() && !p->empty() && (p->front().is_string() || p->front().is_array())) {
    if (p->size() != 1) return bad_request("prompt", "one prompt per request is supported; send the others separately");
    p = &p->front();
  }
  if (p->is_string()) {
    out->prompt = p->get<std::string>();
    if (out->prompt.empty()) return bad_request("prompt", "'prompt' is empty");
    return std::nullopt;
  }
  if (p->is_array() && !p->empty()) {
    std::vector<TokenId> ids;
    for (const json& t : *p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > std::numeric_limits<TokenId>::max())
        return bad_request("prompt", "a token-id prompt must be an array of non-negative integers");
      ids.push_back(TokenId(t.get<int64_t>()));
    }
    out->prompt_tokens = std::move(ids);
    return std::nullopt;
  }
  return bad_request("prompt", "'prompt' must be a string, an array of token ids, or an array with one of either");
}

std::optional<ApiError> read_stop(const json& body, const ParseLimits& limits, std::vector<std::string>* out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    if (!it->get<std::string>().empty()) out->push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > limits.max_stop_strings)
      return bad_request("stop", "at most " + std::to_string(limits.max_stop_strings) + " stop strings");
    for (const json& s : *it) {
      if (!s.is_string()) return bad_request("stop", "'stop' must be a string or an array of strings");
      if (!s.get<std::string>().empty()) out->push_back(s.get<std::string>());
    }
  } else {
    return bad_request("stop", "'stop' must be a string or an array of strings");
  }
  for (const std::string& s : *out)
    if (s.size() > limits.max_stop_bytes)
      return bad_request("stop", "a stop string is longer than " + std::to_string(limits.max_stop_bytes) + " bytes");
  return std::nullopt;
}

// Penalties change the distribution; joule does not implement them, so only their neutral value
// is accepted rather than silently ignoring what a client asked for.
std::optional<ApiError> refuse_unless_neutral(const json& body, const char* key) {
  double v = 0;
  if (auto e = read_number(body, key, -2, 2, &v)) return e;
  if (v != 0) return bad_request(key, std::string("'") + key + "' is not supported by joule (only 0)");
  return std::nullopt;
}

// Fields that would change what is generated: refused unless empty or neutral, never ignored.
std::optional<ApiError> refuse_features(const json& body) {
  for (const char* key : {"tools", "functions", "logit_bias"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_null() && !it->empty())
      return bad_request(key, std::string("'") + key + "' is not supported by joule");
  }
  if (auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    if (!it->is_object() || it->value("type", json("text")) != "text")
      return bad_request("response_format", "only 'response_format': {\"type\": \"text\"} is supported by joule");
  }
  return std::nullopt;
}

std::optional<ApiError> parse_fields(Endpoint ep, const json& body, const ParseLimits& limits,
                                     CompletionRequest* out) {
  out->endpoint = ep;
  if (auto it = body.find("model"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad_request("model", "'model' must be a string");
    out->model = it->get<std::string>();
  }
  if (auto it = body.find("priority"); it != body.end() && !it->is_null()) {
    const auto p = it->is_string() ? sched::parse_priority(it->get<std::string>()) : std::nullopt;
    if (!p) return bad_request("priority", "'priority' must be \"urgent\", \"normal\" or \"low\"");
    out->priority = *p;
  }
  if (ep == Endpoint::kChat) {
    if (auto e = read_messages(body, &out->messages)) return e;
  } else {
    if (auto e = read_prompt(body, out)) return e;
  }
  int64_t n = 1;
  if (auto e = read_int(body, "n", 1, 1, &n)) return e;
  if (auto e = read_bool(body, "echo", &out->echo)) return e;
  if (out->echo && ep == Endpoint::kChat) return bad_request("echo", "'echo' is a /v1/completions field");

  // Completions with echo may ask for no new tokens (scoring a prompt, as lm-eval does).
  const int64_t min_tokens = out->echo ? 0 : 1;
  int64_t max_tokens = -1;
  const bool newer = ep == Endpoint::kChat && body.contains("max_completion_tokens") &&
                     !body["max_completion_tokens"].is_null();
  const char* max_key = newer ? "max_completion_tokens" : "max_tokens";
  if (auto e = read_int(body, max_key, min_tokens, std::numeric_limits<int32_t>::max(), &max_tokens)) return e;
  out->gen.max_tokens = int(max_tokens);

  SamplerParams& sp = out->gen.sampler;
  double v = sp.temperature;
  if (auto e = read_number(body, "temperature", 0, 2, &v)) return e;
  sp.temperature = float(v);
  // The sampler's ranges: top_p in (0, 1], min_p in [0, 1).
  v = sp.top_p;
  if (auto e = read_number(body, "top_p", 0, 1, &v)) return e;
  if (v == 0) return bad_request("top_p", "'top_p' must be greater than 0 (1 keeps every token)");
  sp.top_p = float(v);
  v = sp.min_p;
  if (auto e = read_number(body, "min_p", 0, 1, &v)) return e;  // llama-server and vLLM extension
  if (v == 1) return bad_request("min_p", "'min_p' must be less than 1 (0 keeps every token)");
  sp.min_p = float(v);
  int64_t top_k = sp.top_k;
  if (auto e = read_int(body, "top_k", -1, std::numeric_limits<int32_t>::max(), &top_k)) return e;
  sp.top_k = int(top_k);
  if (body.contains("seed") && !body["seed"].is_null()) {
    int64_t seed = 0;
    if (auto e = read_int(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                          &seed))
      return e;
    sp.seed = uint64_t(seed);
    out->seed_given = true;
  }
  if (auto e = refuse_unless_neutral(body, "presence_penalty")) return e;
  if (auto e = refuse_features(body)) return e;
  if (auto e = refuse_unless_neutral(body, "frequency_penalty")) return e;
  if (auto e = read_stop(body, limits, &out->gen.stop)) return e;

  if (auto e = read_bool(body, "stream", &out->stream)) return e;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return bad_request("stream_options", "'stream_options' must be an object");
    if (!out->stream) return bad_request("stream_options", "'stream_options' is only allowed with 'stream': true");
    if (auto e = read_bool(*it, "include_usage", &out->include_usage)) return e;
  }

  if (ep == Endpoint::kCompletions) {
    int64_t lp = -1;
    if (auto e = read_int(body, "logprobs", 0, 5, &lp)) return e;
    if (lp >= 0) out->logprobs = int(lp);
  } else {
    bool want = false;
    if (auto e = read_bool(body, "logprobs", &want)) return e;
    int64_t top = -1;
    if (auto e = read_int(body, "top_logprobs", 0, 20, &top)) return e;
    if (top >= 0 && !want) return bad_request("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    if (want) out->logprobs = int(std::max<int64_t>(top, 0));
  }
  return std::nullopt;
}

json logprobs_content_json(const std::vector<TokenLogprob>& lps) {  // chat's logprobs.content
  json content = json::array();
  for (const TokenLogprob& t : lps) {
    json top = json::array();
    for (const auto& [tok, lp] : t.top) top.push_back({{"token", tok}, {"logprob", lp}, {"bytes", json::array()}});
    for (json& e : top)
      for (unsigned char c : e["token"].get<std::string>()) e["bytes"].push_back(int(c));
    json bytes = json::array();
    for (unsigned char c : t.token) bytes.push_back(int(c));
    content.push_back({{"token", t.token}, {"logprob", t.logprob}, {"bytes", bytes}, {"top_logprobs", top}});
  }
  return {{"content", content}};
}

// The legacy completions shape: parallel arrays, text offsets from the start of the answer's
// text in characters (code points), as OpenAI and vLLM count them; a token that starts inside a
// character split over tokens gets the offset just past that character.
json logprobs_legacy_json(const std::vector<TokenLogprob>& echo, const std::vector<TokenLogprob>& gen) {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = 0;
  bool first = true;
  for (const auto* list : {&echo, &gen})
    for (const TokenLogprob& t : *list) {
      tokens.push_back(t.token);
      // The first prompt token has no context to be predicted from: null, as OpenAI and vLLM.
      if (first && !echo.empty()) {
        token_lps.push_back(nullptr);
        tops.push_back(nullptr);
      } else {
        token_lps.push_back(t.logprob);
        json top = json::object();
        for (const auto& [tok, lp] : t.top) top[tok] = lp;
        tops.push_back(top);
      }
      offsets.push_back(offset);
      offset += utf8_length(t.token);
      first = false;
    }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

const char* object_name(Endpoint ep, bool chunk) {
  if (ep == Endpoint::kChat) return chunk ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

json finish_json(const std::string& f) { return f.empty() ? json(nullptr) : json(f); }

// The fields every answer and chunk has, around its choices.
json envelope(Endpoint ep, const Answer& a, bool chunk, json choices) {
  return {{"id", a.id},
          {"object", object_name(ep, chunk)},
          {"created", a.created},
          {"model", a.model},
          {"choices", std::move(choices)}};
}

// A choice's index, finish_reason, logprobs and, for completions, its text; chat adds its
// message or delta.
json choice_json(Endpoint ep, const Answer& a) {
  json choice = {{"index", 0}, {"finish_reason", finish_json(a.finish_reason)}};
  const bool with_lp = !a.logprobs.empty() || !a.echo_logprobs.empty();
  if (ep == Endpoint::kChat) {
    choice["logprobs"] = with_lp ? logprobs_content_json(a.logprobs) : json(nullptr);
  } else {
    choice["text"] = a.echo_text + a.text;
    choice["logprobs"] = with_lp ? logprobs_legacy_json(a.echo_logprobs, a.logprobs) : json(nullptr);
  }
  return choice;
}

}  // namespace

std::string_view error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

json error_json(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", error_type(e.status)},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

ApiError error_from_status(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kInvalidArgument: return {400, s.message(), "", ""};
    case ErrorCode::kResourceExhausted: return {429, s.message(), "", ""};
    default: return {500, s.message(), "", ""};
  }
}

ApiError shutting_down_error() { return {503, "the server is shutting down", "", ""}; }

int json_depth(std::string_view body, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') --depth;
  }
  return deepest;
}

ApiError bad_request(std::string param, std::string message) {
  return {400, std::move(message), std::move(param), ""};
}

std::optional<ApiError> parse_json_object(std::string_view body, int max_depth, json* out) {
  // nlohmann's parser is iterative, but a deep document is still refused early: no client
  // needs it and its destruction would cost stack.
  if (json_depth(body, max_depth) > max_depth)
    return bad_request("", "the JSON body nests deeper than " + std::to_string(max_depth) + " levels");
  *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return bad_request("", "the body is not valid JSON (UTF-8 text)");
  if (!out->is_object()) return bad_request("", "the body must be a JSON object");
  return std::nullopt;
}

std::optional<ApiError> parse_request(Endpoint ep, std::string_view body, const ParseLimits& limits,
                                      CompletionRequest* out) {
  json j;
  if (auto e = parse_json_object(body, limits.max_json_depth, &j)) return e;
  *out = CompletionRequest{};
  return parse_fields(ep, j, limits, out);
}

json energy_json(const RequestEnergy& e, int completion_tokens) {
  json j = {{"energy_j", e.energy_j},
            {"prefill_j", e.prefill_j},
            {"decode_j", e.decode_j},
            {"j_per_token", completion_tokens > 0 ? json(e.energy_j / completion_tokens) : json(nullptr)},
            {"avg_power_w", e.duration_s > 0 ? json(e.energy_j / e.duration_s) : json(nullptr)},
            {"source", e.source},
            {"domains", e.domains}};
  return j;
}

json usage_json(const Usage& u) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (u.energy) j["energy"] = energy_json(*u.energy, u.completion_tokens);
  return j;
}

json answer_json(Endpoint ep, const Answer& a, const Usage& u) {
  json choice = choice_json(ep, a);
  if (ep == Endpoint::kChat) choice["message"] = {{"role", "assistant"}, {"content", a.text}};
  json j = envelope(ep, a, false, json::array({choice}));
  j["usage"] = usage_json(u);
  return j;
}

json chunk_json(Endpoint ep, const Answer& a, bool first) {
  json choice = choice_json(ep, a);
  if (ep == Endpoint::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!a.text.empty() || (first && a.finish_reason.empty())) delta["content"] = a.text;
    choice["delta"] = delta;
  }
  return envelope(ep, a, true, json::array({choice}));
}

json usage_chunk_json(Endpoint ep, const Answer& a, const Usage& u) {
  json j = envelope(ep, a, true, json::array());
  j["usage"] = usage_json(u);
  return j;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace joule::serve
