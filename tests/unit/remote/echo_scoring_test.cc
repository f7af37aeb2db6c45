#include "remote/echo_scoring.h"

#include <gtest/gtest.h>

namespace joule::remote {
namespace {

using nlohmann::json;

// An answer shaped as joule serve, vLLM and OpenAI give it for echo + logprobs + max_tokens 0.
json answer(const std::vector<std::string>& tokens, const std::vector<json>& lps, const std::vector<json>& tops,
            std::vector<int> offsets, const std::string& text, int completion_tokens = 0) {
  return {{"choices", {{{"index", 0},
                        {"text", text},
                        {"logprobs",
                         {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}}}}}},
          {"usage", {{"prompt_tokens", tokens.size() - completion_tokens}, {"completion_tokens", completion_tokens}}}};
}

TEST(EchoPrompt, MovesTheContextsTrailingWhitespaceToTheContinuation) {
  const EchoPrompt p = echo_prompt("Question: 2+2?\nAnswer: ", "4");
  EXPECT_EQ(p.text, "Question: 2+2?\nAnswer: 4");
  EXPECT_EQ(p.continuation_at, std::string("Question: 2+2?\nAnswer:").size());
  EXPECT_EQ(echo_prompt("", "x").continuation_at, 0u);
  const json body = echo_request("m", p, 0);
  EXPECT_EQ(body["echo"], true);
  EXPECT_EQ(body["max_tokens"], 0);
  EXPECT_EQ(body["logprobs"], 1);
  EXPECT_EQ(body["prompt"], p.text);
}

TEST(ScoreFromEcho, SumsTheTokensPastTheContinuationsOffset) {
  const EchoPrompt p = echo_prompt("The capital of France is", " Paris");
  const json a = answer({"The", " capital", " of", " France", " is", " Par", "is"},
                        {nullptr, -5.0, -1.0, -2.0, -0.5, -0.25, -0.125},
                        {nullptr, {{" capital", -5.0}}, {{" of", -1.0}}, {{" France", -2.0}}, {{" is", -0.5}},
                         {{" Par", -0.25}}, {{"is", -0.125}}},
                        {0, 3, 11, 14, 21, 24, 28}, p.text);
  auto s = score_from_echo(a, p);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_DOUBLE_EQ(s->logprob, -0.375);
  EXPECT_EQ(s->n_tokens, 2);
  EXPECT_TRUE(s->greedy);
}

TEST(ScoreFromEcho, NotGreedyWhenAnAlternativeIsMoreLikely) {
  const EchoPrompt p = echo_prompt("A", " b");
  const json a = answer({"A", " b"}, {nullptr, -3.0}, {nullptr, {{" c", -0.1}, {" b", -3.0}}}, {0, 1}, p.text);
  auto s = score_from_echo(a, p);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->greedy);
}

TEST(ScoreFromEcho, LeavesOutTheGeneratedTokenAndAStartOfTextToken) {
  // A server that adds <s> and generated one token (max_tokens 1).
  const EchoPrompt p = echo_prompt("Hi", " there");
  const json a = answer({"<s>", "Hi", " there", "!"}, {nullptr, -1.0, -2.0, -9.0},
                        {nullptr, json::object(), json::object(), json::object()}, {0, 3, 5, 11}, "<s>Hi there!", 1);
  auto s = score_from_echo(a, p);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_DOUBLE_EQ(s->logprob, -2.0);
  EXPECT_EQ(s->n_tokens, 1);
}

TEST(ScoreFromEcho, UsesCharacterOffsetsWhenTokensDoNotSpellThePrompt) {
  // "é" split over two byte tokens, each shown as U+FFFD (as vLLM and joule serve send them):
  // the tokens do not spell the prompt, so text_offset (characters) places them.
  const EchoPrompt p = echo_prompt("caf", "é!");
  const json a = answer({"caf", "\xEF\xBF\xBD", "\xEF\xBF\xBD", "!"}, {nullptr, -1.0, -2.0, -4.0},
                        {nullptr, json::object(), json::object(), json::object()}, {0, 3, 4, 4}, p.text);
  auto s = score_from_echo(a, p);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_DOUBLE_EQ(s->logprob, -7.0);
  EXPECT_EQ(s->n_tokens, 3);
}

TEST(ScoreFromEcho, AStraddlingTokenCountsWithTheContinuation) {
  const EchoPrompt p = echo_prompt("hello wor", "ld");
  const json a = answer({"hello", " world"}, {nullptr, -3.0}, {nullptr, json::object()}, {0, 5}, p.text);
  auto s = score_from_echo(a, p);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->logprob, -3.0);
}

TEST(ScoreFromEcho, ClearErrors) {
  const EchoPrompt p = echo_prompt("A", " b");
  // A server that ignores echo / logprobs.
  json plain = {{"choices", {{{"text", " c"}, {"logprobs", nullptr}}}}};
  EXPECT_EQ(score_from_echo(plain, p).status().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(score_from_echo(json::object(), p).status().code(), ErrorCode::kFormat);
  // Echoed text that is not the prompt.
  const json other = answer({"X", " y"}, {nullptr, -1.0}, {nullptr, json::object()}, {0, 1}, "X y");
  EXPECT_EQ(score_from_echo(other, p).status().code(), ErrorCode::kFormat);
  // Arrays of different lengths.
  json bad = answer({"A", " b"}, {nullptr, -1.0}, {nullptr, json::object()}, {0, 1}, p.text);
  bad["choices"][0]["logprobs"]["token_logprobs"] = json::array({nullptr});
  EXPECT_EQ(score_from_echo(bad, p).status().code(), ErrorCode::kFormat);
  // No context: the first token would be scored, and nobody scores it.
  const EchoPrompt bare = echo_prompt("", "A b");
  const json a = answer({"A", " b"}, {nullptr, -1.0}, {nullptr, json::object()}, {0, 1}, bare.text);
  EXPECT_EQ(score_from_echo(a, bare).status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace joule::remote
