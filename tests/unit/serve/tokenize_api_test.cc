#include "serve/tokenize_api.h"

#include <gtest/gtest.h>

namespace joule::serve {
namespace {

using nlohmann::json;

TEST(TokenizeApi, ParsesVllmsBodies) {
  TokenizeRequest r;
  EXPECT_FALSE(parse_tokenize(R"({"prompt": "Hello", "add_special_tokens": false})", &r));
  EXPECT_EQ(r.prompt, "Hello");
  EXPECT_FALSE(r.add_special_tokens);
  EXPECT_FALSE(parse_tokenize(R"({"prompt": "", "model": "m"})", &r));
  EXPECT_TRUE(r.add_special_tokens);  // vLLM's default
  std::vector<TokenId> ids;
  EXPECT_FALSE(parse_detokenize(R"({"tokens": [1, 2, 3]})", 10, &ids));
  EXPECT_EQ(ids, (std::vector<TokenId>{1, 2, 3}));
  EXPECT_EQ(tokenize_json({5, 6}, 2048), json({{"tokens", {5, 6}}, {"count", 2}, {"max_model_len", 2048}}));
}

TEST(TokenizeApi, BadBodiesNameTheField) {
  TokenizeRequest r;
  std::vector<TokenId> ids;
  EXPECT_EQ(parse_tokenize("not json", &r)->param, "");
  EXPECT_EQ(parse_tokenize("[1]", &r)->message, "the body must be a JSON object");
  EXPECT_EQ(parse_tokenize(R"({"prompt": 3})", &r)->param, "prompt");
  EXPECT_EQ(parse_tokenize(R"({"prompt": "x", "add_special_tokens": "yes"})", &r)->param, "add_special_tokens");
  EXPECT_EQ(parse_tokenize(R"({"prompt": [[[[[[[[[["x"]]]]]]]]]]})", &r)->status, 400);
  EXPECT_EQ(parse_detokenize(R"({"tokens": "1 2"})", 10, &ids)->param, "tokens");
  const auto e = parse_detokenize(R"({"tokens": [1, 10]})", 10, &ids);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message, "token 10 is not an id of this vocabulary (0..9)");
  EXPECT_TRUE(parse_detokenize(R"({"tokens": [-1]})", 10, &ids));
  EXPECT_TRUE(parse_detokenize(R"({"tokens": [1.5]})", 10, &ids));
}

}  // namespace
}  // namespace joule::serve
