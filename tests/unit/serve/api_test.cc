// The OpenAI request bodies: what is accepted, every refusal naming its field, and the shapes of
// answers, chunks and errors the OpenAI client parses.
#include "serve/api.h"

#include <gtest/gtest.h>

namespace joule::serve {
namespace {

using nlohmann::json;

std::optional<ApiError> parse(Endpoint ep, const std::string& body, CompletionRequest* out = nullptr) {
  CompletionRequest r;
  return parse_request(ep, body, ParseLimits{}, out ? out : &r);
}

// The field a refusal names ("" when the body as a whole is wrong), or "accepted".
std::string refused_field(Endpoint ep, const std::string& body) {
  auto e = parse(ep, body);
  if (!e) return "accepted";
  EXPECT_EQ(e->status, 400) << body;
  EXPECT_FALSE(e->message.empty());
  return e->param;
}

TEST(Api, ParsesAChatRequest) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kChat, R"({"model": "m", "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null}],
    "max_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0.1, "seed": -5,
    "stop": ["\n", ""], "stream": true, "stream_options": {"include_usage": true},
    "logprobs": true, "top_logprobs": 2, "user": "ignored", "frequency_penalty": 0})",
                     &r));
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "Hi there");
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_EQ(r.gen.max_tokens, 7);
  EXPECT_EQ(r.gen.sampler.temperature, 0.0f);
  EXPECT_EQ(r.gen.sampler.top_p, 0.5f);
  EXPECT_EQ(r.gen.sampler.top_k, 3);
  EXPECT_EQ(r.gen.sampler.seed, uint64_t(int64_t{-5}));
  EXPECT_TRUE(r.seed_given);
  EXPECT_EQ(r.gen.stop, std::vector<std::string>{"\n"});  // empty stops mean nothing
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.logprobs, 2);
}

TEST(Api, DefaultsFollowLlamaServer) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kCompletions, R"({"prompt": "x"})", &r));
  EXPECT_EQ(r.prompt, "x");
  EXPECT_EQ(r.gen.max_tokens, -1);  // the rest of the context
  EXPECT_EQ(r.gen.sampler.temperature, SamplerParams{}.temperature);
  EXPECT_FALSE(r.seed_given);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.logprobs);
  ASSERT_FALSE(parse(Endpoint::kCompletions, R"({"prompt": [[1, 2, 3]], "echo": true, "max_tokens": 0, "logprobs": 0})", &r));
  EXPECT_EQ(*r.prompt_tokens, (std::vector<TokenId>{1, 2, 3}));
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.gen.max_tokens, 0);
  EXPECT_EQ(r.logprobs, 0);
  ASSERT_FALSE(parse(Endpoint::kChat, R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 3})", &r));
  EXPECT_EQ(r.gen.max_tokens, 3);
  EXPECT_FALSE(r.priority.has_value());  // the X-Priority header, else normal
}

TEST(Api, PriorityIsAClassName) {
  CompletionRequest r;
  ASSERT_FALSE(parse(Endpoint::kCompletions, R"({"prompt": "x", "priority": "urgent"})", &r));
  EXPECT_EQ(r.priority, sched::Priority::kUrgent);
  ASSERT_FALSE(parse(Endpoint::kCompletions, R"({"prompt": "x", "priority": "low"})", &r));
  EXPECT_EQ(r.priority, sched::Priority::kLow);
  EXPECT_EQ(refused_field(Endpoint::kCompletions, R"({"prompt": "x", "priority": 0})"), "priority");
  EXPECT_EQ(refused_field(Endpoint::kCompletions, R"({"prompt": "x", "priority": "high"})"), "priority");
}

TEST(Api, RefusalsNameTheField) {
  const auto chat = Endpoint::kChat;
  const auto cmpl = Endpoint::kCompletions;
  EXPECT_EQ(refused_field(chat, "{"), "");
  EXPECT_EQ(refused_field(chat, "[]"), "");
  EXPECT_EQ(refused_field(chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}"), "");  // not UTF-8
  EXPECT_EQ(refused_field(chat, std::string(100000, '[') + std::string(100000, ']')), "");
  EXPECT_EQ(refused_field(chat, "{}"), "messages");
  EXPECT_EQ(refused_field(chat, R"({"messages": []})"), "messages");
  EXPECT_EQ(refused_field(chat, R"({"messages": ["hi"]})"), "messages[0]");
  EXPECT_EQ(refused_field(chat, R"({"messages": [{"role": "tool", "content": "x"}]})"), "messages[0].role");
  EXPECT_EQ(refused_field(chat, R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})"),
            "messages[0].content[0]");
  const std::string ok_msgs = R"("messages": [{"role": "user", "content": "x"}])";
  auto chat_with = [&](const std::string& field) { return refused_field(chat, "{" + ok_msgs + ", " + field + "}"); };
  EXPECT_EQ(chat_with(R"("temperature": "hot")"), "temperature");
  EXPECT_EQ(chat_with(R"("temperature": 5)"), "temperature");
  EXPECT_EQ(chat_with(R"("top_p": -0.1)"), "top_p");
  EXPECT_EQ(chat_with(R"("max_tokens": 0)"), "max_tokens");
  EXPECT_EQ(chat_with(R"("max_tokens": 1.5)"), "max_tokens");
  EXPECT_EQ(chat_with(R"("max_tokens": 18446744073709551615)"), "max_tokens");
  EXPECT_EQ(chat_with(R"("n": 2)"), "n");
  EXPECT_EQ(chat_with(R"("stop": 3)"), "stop");
  EXPECT_EQ(chat_with(R"("stop": ["a", 1])"), "stop");
  EXPECT_EQ(chat_with(R"("stream": "yes")"), "stream");
  EXPECT_EQ(chat_with(R"("stream_options": {"include_usage": true})"), "stream_options");
  EXPECT_EQ(chat_with(R"("top_logprobs": 2)"), "top_logprobs");
  EXPECT_EQ(chat_with(R"("logprobs": true, "top_logprobs": 21)"), "top_logprobs");
  EXPECT_EQ(chat_with(R"("echo": true)"), "echo");
  EXPECT_EQ(chat_with(R"("presence_penalty": 0.5)"), "presence_penalty");
  EXPECT_EQ(chat_with(R"("top_p": 0)"), "top_p");  // the sampler's ranges, named as fields
  EXPECT_EQ(chat_with(R"("min_p": 1)"), "min_p");
  EXPECT_EQ(chat_with(R"("tools": [{"type": "function"}])"), "tools");
  EXPECT_EQ(chat_with(R"("logit_bias": {"50256": -100})"), "logit_bias");
  EXPECT_EQ(chat_with(R"("response_format": {"type": "json_object"})"), "response_format");
  EXPECT_EQ(chat_with(R"("tools": [], "logit_bias": {}, "response_format": {"type": "text"})"), "accepted");
  EXPECT_EQ(chat_with(R"("max_tokens": 0, "max_completion_tokens": null)"), "max_tokens");
  EXPECT_EQ(chat_with(R"("model": 7)"), "model");
  EXPECT_EQ(refused_field(cmpl, "{}"), "prompt");
  EXPECT_EQ(refused_field(cmpl, R"({"prompt": ""})"), "prompt");
  EXPECT_EQ(refused_field(cmpl, R"({"prompt": ["a", "b"]})"), "prompt");
  EXPECT_EQ(refused_field(cmpl, R"({"prompt": [1, -2]})"), "prompt");
  EXPECT_EQ(refused_field(cmpl, R"({"prompt": "x", "logprobs": 6})"), "logprobs");
  EXPECT_EQ(refused_field(cmpl, R"({"prompt": "x", "max_tokens": 0})"), "max_tokens");  // only with echo
}

TEST(Api, StopStringsAreBounded) {
  json many = json::array();
  for (int i = 0; i < 4096; ++i) many.push_back("stop" + std::to_string(i));
  EXPECT_EQ(refused_field(Endpoint::kCompletions, json{{"prompt", "x"}, {"stop", many}}.dump()), "accepted");
  many.push_back("one more");
  EXPECT_EQ(refused_field(Endpoint::kCompletions, json{{"prompt", "x"}, {"stop", many}}.dump()), "stop");
  EXPECT_EQ(refused_field(Endpoint::kCompletions, json{{"prompt", "x"}, {"stop", std::string(2000, 'a')}}.dump()),
            "stop");
}

TEST(Api, JsonDepthSkipsStrings) {
  EXPECT_EQ(json_depth(R"({"a": [1, {"b": "[[[[{{{"}]})", 64), 3);
  EXPECT_EQ(json_depth(R"(["\"[", [[]]])", 64), 3);
  EXPECT_EQ(json_depth(std::string(1000, '['), 10), 11);  // stops counting past the limit
}

TEST(Api, ErrorsHaveTheOpenAIShape) {
  const json e = error_json({429, "slow down", "", ""});
  EXPECT_EQ(e["error"]["message"], "slow down");
  EXPECT_EQ(e["error"]["type"], "rate_limit_error");
  EXPECT_TRUE(e["error"]["param"].is_null());
  EXPECT_TRUE(e["error"]["code"].is_null());
  EXPECT_EQ(error_json({400, "m", "temperature", ""})["error"]["param"], "temperature");
  EXPECT_EQ(error_type(401), "authentication_error");
  EXPECT_EQ(error_type(404), "not_found_error");
  EXPECT_EQ(error_type(413), "invalid_request_error");
  EXPECT_EQ(error_type(503), "unavailable_error");
  EXPECT_EQ(error_from_status(ResourceExhausted("full")).status, 429);
  EXPECT_EQ(error_from_status(InvalidArgument("bad")).status, 400);
  EXPECT_EQ(error_from_status(InternalError("oops")).status, 500);
}

TEST(Api, AnswersAndChunksHaveTheOpenAIShape) {
  Answer a;
  a.id = "chatcmpl-1";
  a.created = 5;
  a.model = "m";
  a.text = "Hi";
  a.finish_reason = "stop";
  Usage u{.prompt_tokens = 3, .completion_tokens = 2,
          .energy = RequestEnergy{.energy_j = 4, .prefill_j = 1, .decode_j = 3, .duration_s = 2, .source = "counter",
                                  .domains = {"gpu0"}}};
  const json chat = answer_json(Endpoint::kChat, a, u);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["content"], "Hi");
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chat["usage"]["total_tokens"], 5);
  EXPECT_EQ(chat["usage"]["energy"]["energy_j"], 4.0);
  EXPECT_EQ(chat["usage"]["energy"]["j_per_token"], 2.0);
  EXPECT_EQ(chat["usage"]["energy"]["avg_power_w"], 2.0);
  EXPECT_EQ(chat["usage"]["energy"]["source"], "counter");

  a.finish_reason.clear();
  const json first = chunk_json(Endpoint::kChat, a, /*first=*/true);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(usage_chunk_json(Endpoint::kChat, a, u)["choices"].size(), 0u);

  a.id = "cmpl-1";
  a.echo_text = "Say: ";
  a.finish_reason = "length";
  a.echo_logprobs = {{.token = "Say", .logprob = 0, .top = {}}, {.token = ":", .logprob = -1, .top = {}}};
  a.logprobs = {{.token = "Hi", .logprob = -0.5, .top = {{"Hi", -0.5f}, {"Yo", -1.5f}}}};
  const json cmpl = answer_json(Endpoint::kCompletions, a, Usage{});
  EXPECT_EQ(cmpl["object"], "text_completion");
  EXPECT_EQ(cmpl["choices"][0]["text"], "Say: Hi");
  const json& lp = cmpl["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], json({"Say", ":", "Hi"}));
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());  // nothing predicts the first token
  EXPECT_EQ(lp["token_logprobs"][2], -0.5);
  EXPECT_EQ(lp["text_offset"], json({0, 3, 4}));
  EXPECT_EQ(lp["top_logprobs"][2]["Yo"], -1.5);
  EXPECT_FALSE(cmpl["usage"].contains("energy"));  // no meter, no figure
}

TEST(Api, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(dump(json("a\xff")), "\"a\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace joule::serve
