// The step loop end to end on a tiny model: requests served together produce exactly the tokens
// each produces alone with `joule run`'s generate() (greedy and seeded sampling), whatever else is
// in the batch, through chunked prefill, a paged cache and preemption.
#include "serve/batch_engine.h"

#include <gtest/gtest.h>

#include <map>

#include "tiny_serve_model.h"
#include "engine/generate.h"

namespace joule::serve {
namespace {

using testing::prompt_of;

class BatchEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinyServeModel m = testing::load_tiny_serve_model("serve_tiny.gguf");
    model_ = std::move(m.model);
    tok_ = std::move(m.tok);
  }

  // The tokens generate() produces for `prompt` alone (up to max_tokens, stopping at EOS).
  std::vector<TokenId> alone(const std::vector<TokenId>& prompt, const GenerationParams& p) {
    ForwardState st(*model_, 256);
    GenerateParams gp{p.max_tokens, p.sampler, nullptr};
    auto stats = generate(*model_, *tok_, st, prompt, gp, pool_, cpu::best_kernels(),
                          [](std::string_view) { return true; });
    EXPECT_TRUE(stats.ok());
    return stats->tokens;
  }

  // Serves every prompt at once; the generated tokens of each (without a final EOS).
  std::map<uint64_t, std::vector<TokenId>> together(const std::vector<std::vector<TokenId>>& prompts,
                                                   const std::vector<GenerationParams>& params,
                                                   const sched::SchedulerConfig& config, int n_blocks) {
    sched::KvBlockPool blocks(n_blocks, 8);
    sched::FcfsPolicy fcfs;
    double now = 0;
    sched::Scheduler scheduler(config, blocks, fcfs, [&] { return now; });
    BatchEngine engine(*model_, *tok_, scheduler, pool_, cpu::best_kernels());
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_TRUE(engine.submit(i, prompts[i], params[i], now).ok());
    std::map<uint64_t, std::vector<TokenId>> out;
    for (int steps = 0; out.size() < prompts.size() && steps < 10000; ++steps) {
      now += 0.01;
      auto sampled = engine.step();
      EXPECT_TRUE(sampled.ok()) << sampled.status().message();
      for (sched::Request& r : engine.take_finished()) {
        std::vector<TokenId> gen(r.tokens.begin() + r.prompt_tokens, r.tokens.end());
        if (r.finish == sched::FinishReason::kStop && !gen.empty()) gen.pop_back();  // the EOS
        out[r.id] = std::move(gen);
      }
    }
    preemptions_ = scheduler.stats().preemptions;
    return out;
  }

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  ThreadPool pool_{2};
  int64_t preemptions_ = 0;  // in the last together()
};


TEST_F(BatchEngineTest, EachRequestGetsTheTokensItGetsAlone) {
  std::vector<std::vector<TokenId>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(prompt_of(1 + 9 * i, i));  // 1 .. 46 tokens: one-token and chunked prompts
    GenerationParams p;
    p.max_tokens = 12 + 3 * i;
    if (i % 2 == 0) p.sampler.temperature = 0;  // greedy; the others seeded sampling
    p.sampler.seed = 1000 + i;
    params.push_back(p);
  }
  // Small steps (chunked prefill, prompts and decodes mixed) and a roomy cache.
  const auto served = together(prompts, params, {.max_sequences = 4, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 64);
  ASSERT_EQ(served.size(), prompts.size());
  size_t generated = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(served.at(i), alone(prompts[i], params[i])) << "request " << i;
    generated += served.at(i).size();
  }
  EXPECT_GT(generated, 50u);  // the comparison is over real streams, not early ends
}

// A cache too small for every request at once: the newest are preempted and recomputed.
TEST_F(BatchEngineTest, PreemptedRequestsFinishWithTheirOwnTokens) {
  std::vector<std::vector<TokenId>> prompts;
  std::vector<GenerationParams> params;
  for (int i = 0; i < 4; ++i) {
    prompts.push_back(prompt_of(20, 10 + i));
    GenerationParams p;
    p.max_tokens = 24;
    p.sampler.temperature = 0;
    params.push_back(p);
  }
  const auto served = together(prompts, params, {.max_sequences = 4, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 14);
  ASSERT_EQ(served.size(), prompts.size());
  EXPECT_GT(preemptions_, 0);
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(served.at(i), alone(prompts[i], params[i])) << "request " << i;
}

// Stop strings end a request before their first occurrence, even when it spans tokens, and the
// streamed text is exactly generate()'s text up to there.
TEST_F(BatchEngineTest, StopStringsCutTheStreamedText) {
  GenerationParams p;
  p.max_tokens = 40;
  p.sampler.temperature = 0;
  const std::vector<TokenId> prompt = prompt_of(12, 7);
  std::string full;
  {
    ForwardState st(*model_, 256);
    GenerateParams gp{p.max_tokens, p.sampler, nullptr};
    ASSERT_TRUE(generate(*model_, *tok_, st, prompt, gp, pool_, cpu::best_kernels(), [&](std::string_view t) {
                  full.append(t);
                  return true;
                }).ok());
  }
  ASSERT_GT(full.size(), 12u);
  const std::string stop = full.substr(full.size() / 2, 3);  // likely spans two tokens' pieces
  p.stop = {stop, "a stop that never comes"};
  sched::KvBlockPool blocks(32, 8);
  sched::FcfsPolicy fcfs;
  sched::Scheduler scheduler({.max_sequences = 2, .max_batch_tokens = 8, .max_waiting = {4, 4, 4}}, blocks, fcfs);
  BatchEngine engine(*model_, *tok_, scheduler, pool_, cpu::best_kernels());
  ASSERT_TRUE(engine.submit(1, prompt, p, 0).ok());
  std::string text;
  sched::FinishReason finish = sched::FinishReason::kNone;
  for (int i = 0; i < 200 && finish == sched::FinishReason::kNone; ++i) {
    auto out = engine.step();
    ASSERT_TRUE(out.ok());
    for (const Emitted& e : *out) text += e.text, finish = e.finish;
  }
  EXPECT_EQ(finish, sched::FinishReason::kStop);
  EXPECT_EQ(text, full.substr(0, full.find(stop)));
  EXPECT_EQ(engine.take_finished().at(0).finish, sched::FinishReason::kStop);
}

TEST_F(BatchEngineTest, ErrorsAreReturnedAndTheLoopGoesOn) {
  sched::KvBlockPool blocks(16, 8);
  sched::FcfsPolicy fcfs;
  sched::Scheduler scheduler({.max_sequences = 2, .max_batch_tokens = 8, .max_waiting = {1, 1, 1}}, blocks, fcfs);
  BatchEngine engine(*model_, *tok_, scheduler, pool_, cpu::best_kernels());
  GenerationParams p;
  p.max_tokens = 4;
  GenerationParams bad = p;
  bad.sampler.top_p = 2;
  EXPECT_EQ(engine.submit(1, prompt_of(5, 1), bad, 0).code(), ErrorCode::kInvalidArgument);
  GenerationParams huge = p;
  huge.max_tokens = model_->config().ctx_train;
  EXPECT_EQ(engine.submit(2, prompt_of(5, 2), huge, 0).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(engine.submit(3, prompt_of(5, 3), p, 0).ok());
  EXPECT_EQ(engine.submit(4, prompt_of(5, 4), p, 0).code(), ErrorCode::kResourceExhausted);  // queue of 1
  ASSERT_TRUE(engine.step().ok());
  ASSERT_TRUE(engine.cancel(3).ok());
  EXPECT_EQ(blocks.stats().used_blocks, 0);
  ASSERT_TRUE(engine.submit(5, prompt_of(5, 5), p, 0).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(engine.step().ok());
  const auto done = engine.take_finished();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].finish, sched::FinishReason::kCancelled);
  EXPECT_NE(done[1].finish, sched::FinishReason::kCancelled);
}

// Prefix reuse: a prompt that starts like one served before (the same system prompt, a chat
// continuing) starts from the cached blocks and still gets the tokens it gets alone.
TEST_F(BatchEngineTest, PrefixReuseGivesTheTokensOfNoReuse) {
  const std::vector<TokenId> system = prompt_of(27, 3);  // three full blocks of 8 and a part
  std::vector<TokenId> first = system, second = system;
  for (TokenId t : prompt_of(6, 4)) first.push_back(t);
  for (TokenId t : prompt_of(11, 5)) second.push_back(t);
  GenerationParams p;
  p.max_tokens = 12;
  p.sampler.temperature = 0;

  sched::KvBlockPool blocks(64, 8);
  sched::FcfsPolicy fcfs;
  sched::Scheduler scheduler({.max_sequences = 2, .max_batch_tokens = 16, .max_waiting = {4, 4, 4}}, blocks, fcfs);
  BatchEngine engine(*model_, *tok_, scheduler, pool_, cpu::best_kernels());
  std::map<uint64_t, sched::Request> done;
  auto serve = [&](uint64_t id, const std::vector<TokenId>& prompt) {
    ASSERT_TRUE(engine.submit(id, prompt, p, 0).ok());
    for (int i = 0; i < 100 && !engine.idle(); ++i) ASSERT_TRUE(engine.step().ok());
    for (sched::Request& r : engine.take_finished()) done[r.id] = std::move(r);
  };
  serve(1, first);
  serve(2, second);  // the system prompt's full blocks come from the cache
  serve(3, first);   // all of `first`'s full blocks do
  EXPECT_EQ(done.at(1).prefix_hit_tokens, 0);
  EXPECT_EQ(done.at(2).prefix_hit_tokens, 24);
  EXPECT_EQ(done.at(3).prefix_hit_tokens, 32);
  const std::pair<uint64_t, const std::vector<TokenId>*> cases[] = {{1, &first}, {2, &second}, {3, &first}};
  for (const auto& [id, prompt] : cases) {
    const sched::Request& r = done.at(id);
    std::vector<TokenId> gen(r.tokens.begin() + r.prompt_tokens, r.tokens.end());
    if (r.finish == sched::FinishReason::kStop && !gen.empty()) gen.pop_back();
    EXPECT_EQ(gen, alone(*prompt, p)) << "request " << id;
  }
}

// Echo with logprobs (lm-evaluation-harness scores choices this way): every prompt position's
// log-probability once, equal to the single-sequence forward pass's, in chunks, alongside
// other requests, and for a prompt whose blocks another request has already cached.
TEST_F(BatchEngineTest, PromptLogprobsMatchTheForwardPassOncePerPosition) {
  const std::vector<TokenId> prompt = prompt_of(37, 7);
  const int nv = model_->config().n_vocab;
  ForwardState st(*model_, 64);
  std::vector<float> rows(prompt.size() * size_t(nv));
  ASSERT_TRUE(forward(*model_, st, prompt, /*all_logits=*/true, rows.data(), pool_, cpu::best_kernels()).ok());

  sched::KvBlockPool blocks(64, 8);
  sched::FcfsPolicy fcfs;
  sched::Scheduler scheduler({.max_sequences = 3, .max_batch_tokens = 16, .max_waiting = {4, 4, 4}}, blocks, fcfs);
  BatchEngine engine(*model_, *tok_, scheduler, pool_, cpu::best_kernels());
  GenerationParams plain;
  plain.max_tokens = 3;
  plain.sampler.temperature = 0;
  GenerationParams scored = plain;
  scored.logprobs = 2;
  scored.prompt_logprobs = true;
  ASSERT_TRUE(engine.submit(1, prompt, plain, 0).ok());  // caches the prompt's blocks
  ASSERT_TRUE(engine.submit(2, prompt_of(20, 8), plain, 0).ok());
  for (int i = 0; i < 40 && !engine.idle(); ++i) ASSERT_TRUE(engine.step().ok());
  ASSERT_TRUE(engine.submit(3, prompt, scored, 0).ok());
  ASSERT_TRUE(engine.submit(4, prompt_of(9, 9), plain, 0).ok());
  std::vector<TokenLogprobs> got;
  int next_position = 1;
  for (int i = 0; i < 40 && !engine.idle(); ++i) {
    ASSERT_TRUE(engine.step().ok());
    for (const auto& p : engine.last_prompt_logprobs()) {
      ASSERT_EQ(p.request_id, 3u);
      EXPECT_EQ(p.first_position, next_position);
      next_position += int(p.logprobs.size());
      got.insert(got.end(), p.logprobs.begin(), p.logprobs.end());
    }
  }
  ASSERT_EQ(got.size(), prompt.size() - 1);
  for (size_t pos = 1; pos < prompt.size(); ++pos) {
    const TokenLogprobs want = token_logprobs(rows.data() + (pos - 1) * size_t(nv), nv, prompt[pos], 2);
    EXPECT_EQ(got[pos - 1].token, prompt[pos]);
    EXPECT_NEAR(got[pos - 1].logprob, want.logprob, 1e-4) << "position " << pos;
    ASSERT_EQ(got[pos - 1].top.size(), 2u);
    EXPECT_EQ(got[pos - 1].top[0].first, want.top[0].first);
  }
}

}  // namespace
}  // namespace joule::serve
