#include "serve/tokenize_api.h"

namespace joule::serve {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 8;  // these bodies do not nest: a flat object, one array of ids

}  // namespace

std::optional<ApiError> parse_tokenize(std::string_view body, TokenizeRequest* out) {
  json j;
  if (auto e = parse_json_object(body, kMaxDepth, &j)) return e;
  *out = TokenizeRequest{};
  if (!j.contains("prompt") || !j["prompt"].is_string()) return bad_request("prompt", "'prompt' must be a string");
  out->prompt = j["prompt"].get<std::string>();
  if (j.contains("add_special_tokens") && !j["add_special_tokens"].is_null()) {
    if (!j["add_special_tokens"].is_boolean())
      return bad_request("add_special_tokens", "'add_special_tokens' must be a boolean");
    out->add_special_tokens = j["add_special_tokens"].get<bool>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_detokenize(std::string_view body, int n_vocab, std::vector<TokenId>* out) {
  json j;
  if (auto e = parse_json_object(body, kMaxDepth, &j)) return e;
  out->clear();
  if (!j.contains("tokens") || !j["tokens"].is_array())
    return bad_request("tokens", "'tokens' must be an array of token ids");
  for (const json& t : j["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= n_vocab)
      return bad_request("tokens", "token " + t.dump() + " is not an id of this vocabulary (0.." +
                                       std::to_string(n_vocab - 1) + ")");
    out->push_back(static_cast<TokenId>(t.get<int64_t>()));
  }
  return std::nullopt;
}

json tokenize_json(const std::vector<TokenId>& tokens, int max_model_len) {
  return {{"tokens", tokens}, {"count", tokens.size()}, {"max_model_len", max_model_len}};
}

}  // namespace joule::serve
