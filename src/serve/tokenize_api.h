// vLLM's tokenizer endpoints, without HTTP: what lm-evaluation-harness's `tokenizer_backend=remote`
// (and other clients that tokenize as the server does) asks of a server.
//   POST /tokenize   {"prompt": TEXT, "add_special_tokens": true}  -> {"tokens", "count", "max_model_len"}
//   POST /detokenize {"tokens": [IDS]}                               -> {"prompt": TEXT}
//   GET  /tokenizer_info                                             -> {"eos_token", "bos_token", ...}
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/api.h"
#include "tokenizer/tokenizer.h"  // TokenId

namespace joule::serve {

struct TokenizeRequest {
  std::string prompt;
  bool add_special_tokens = true;  // BOS where the model adds one (vLLM's default)
};

std::optional<ApiError> parse_tokenize(std::string_view body, TokenizeRequest* out);
// Ids outside the vocabulary (n_vocab) are an error naming the first.
std::optional<ApiError> parse_detokenize(std::string_view body, int n_vocab, std::vector<TokenId>* out);

nlohmann::json tokenize_json(const std::vector<TokenId>& tokens, int max_model_len);

}  // namespace joule::serve
