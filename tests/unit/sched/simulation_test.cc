// A randomized run (fixed seed) of the scheduler with a fake engine that keeps a fake KV cache:
// each position of each block holds a fingerprint of the tokens up to it, as real K/V depend on
// the whole prefix. Random arrivals (some sharing system prompts, some continuing earlier
// answers), lengths, stops and cancellations, also while a step runs. Every step checks that an
// item reads only its own sequence's K/V and writes only unshared blocks, the plan's budget and
// uniqueness, and that the pool's reference counts balance the block tables; at the end every
// request has finished or been cancelled, with exactly the tokens the engine sampled for it.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include "sched/scheduler.h"

namespace joule::sched {
namespace {

uint64_t fingerprint(uint64_t prefix, TokenId t) {  // splitmix64 over the prefix and the token
  uint64_t z = prefix ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// With `classes`, requests get random priority classes and the policy's reserve is checked too.
void simulate(const SchedulingPolicy& policy, bool classes) {
  constexpr int kBlocks = 48, kBlockTokens = 4, kVocab = 64;  // a small vocabulary: blocks often repeat
  constexpr int kArrivalSteps = 3000, kMaxSteps = 6000;
  constexpr uint64_t kRootFingerprint = 1, kGarbage = 0xdead;
  const SchedulerConfig config{.max_sequences = 6, .max_batch_tokens = 24, .max_waiting = {10, 10, 10}};

  double now_s = 0;
  KvBlockPool pool(kBlocks, kBlockTokens);
  Scheduler sched(config, pool, policy, [&] { return now_s; });
  const UnreservedCapacity cap = sched.unreserved();

  std::mt19937_64 rng(20261201);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto random_tokens = [&](int n) {
    std::vector<TokenId> t(static_cast<size_t>(n));
    for (TokenId& x : t) x = TokenId(uniform(0, kVocab - 1));
    return t;
  };
  const std::vector<std::vector<TokenId>> system_prompts = {random_tokens(8), random_tokens(12), random_tokens(17)};

  std::vector<uint64_t> fake_kv(size_t(kBlocks) * kBlockTokens, 0);
  auto kv_at = [&](const std::vector<BlockId>& table, int pos) -> uint64_t& {
    return fake_kv[size_t(table[size_t(pos / kBlockTokens)]) * kBlockTokens + size_t(pos % kBlockTokens)];
  };

  std::map<uint64_t, std::vector<TokenId>> expected;  // live requests: prompt and the tokens sampled
  std::map<uint64_t, int> max_tokens_of;
  std::vector<std::vector<TokenId>> answered;  // finished conversations, continued by later prompts
  std::map<FinishReason, int> reasons;
  std::array<double, kNumPriorities> queue_s{};  // summed over finished requests, per class
  std::array<int, kNumPriorities> finished{};
  uint64_t next_id = 1;
  int rejected = 0;

  auto submit_random = [&] {
    std::vector<TokenId> prompt;
    const int kind = uniform(0, 9);
    if (kind < 4) {
      prompt = system_prompts[size_t(uniform(0, 2))];
    } else if (kind < 6 && !answered.empty()) {
      prompt = answered[size_t(uniform(0, int(answered.size()) - 1))];
    }
    const std::vector<TokenId> rest = random_tokens(prompt.empty() ? uniform(1, 60) : uniform(1, 30));
    prompt.insert(prompt.end(), rest.begin(), rest.end());
    Request r;
    r.id = next_id++;
    r.tokens = prompt;
    r.max_tokens = uniform(1, 24);
    r.arrival_s = now_s;
    if (classes) r.priority = chance(0.2) ? Priority::kUrgent : chance(0.5) ? Priority::kNormal : Priority::kLow;
    const Status s = sched.submit(r);
    if (s.code() == ErrorCode::kResourceExhausted) {
      ++rejected;
      return;
    }
    ASSERT_TRUE(s.ok()) << s.message();
    expected[r.id] = prompt;
    max_tokens_of[r.id] = r.max_tokens;
  };
  auto cancel_one_of = [&](const std::vector<uint64_t>& ids) {
    if (ids.empty()) return;
    ASSERT_TRUE(sched.cancel(ids[size_t(uniform(0, int(ids.size()) - 1))]).ok());
  };

  int step = 0;
  for (; step < kMaxSteps && (step < kArrivalSteps || !sched.idle()); ++step) {
    now_s += 0.01;
    const bool arriving = step < kArrivalSteps;
    if (arriving) {
      const int n = chance(0.45) ? (chance(0.25) ? 2 : 1) : 0;
      for (int i = 0; i < n; ++i) submit_random();
      if (chance(0.02)) {
        std::vector<uint64_t> live;
        for (const auto& [id, tokens] : expected) live.push_back(id);
        cancel_one_of(live);
      }
    }

    const StepPlan plan = sched.plan();
    EXPECT_TRUE(!plan.empty() || sched.idle());  // whatever is live, something runs
    std::set<uint64_t> planned;
    int step_tokens = 0;
    for (const StepItem& it : plan.items) {
      EXPECT_TRUE(planned.insert(it.request_id).second) << "planned twice: " << it.request_id;
      step_tokens += it.end - it.begin;
      const Request* r = sched.find(it.request_id);
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(r->state, RequestState::kRunning);
      EXPECT_EQ(it.begin, r->num_computed);
      EXPECT_LT(it.begin, it.end);
      EXPECT_LE(it.end, r->num_tokens());
      EXPECT_EQ(it.logits, it.end == r->num_tokens());
      EXPECT_EQ(it.tokens, std::vector<TokenId>(r->tokens.begin() + it.begin, r->tokens.begin() + it.end));
      EXPECT_EQ(it.blocks, r->blocks);
      EXPECT_EQ(int(it.blocks.size()), pool.blocks_for(it.end));
    }
    EXPECT_LE(step_tokens, config.max_batch_tokens);
    // The reserve: work that may not use it stays within its share of tokens, sequences, blocks.
    int unreserved_tokens = 0, unreserved_running = 0, unreserved_blocks = 0;
    for (const StepItem& it : plan.items)
      if (!policy.may_use_reserve(*sched.find(it.request_id))) unreserved_tokens += it.end - it.begin;
    for (const auto& [id, tokens] : expected) {
      const Request* r = sched.find(id);
      if (r && r->state == RequestState::kRunning && !policy.may_use_reserve(*r)) {
        ++unreserved_running;
        unreserved_blocks += int(r->blocks.size());
      }
    }
    EXPECT_LE(unreserved_tokens, cap.step_tokens);
    EXPECT_LE(unreserved_running, cap.sequences);
    EXPECT_LE(unreserved_blocks, cap.kv_blocks);
    EXPECT_LE(int(plan.items.size()), config.max_sequences);
    EXPECT_EQ(sched.stats().step_prefill_tokens + sched.stats().step_decode_tokens, step_tokens);

    // A client may go away while the step runs.
    if (arriving && chance(0.03)) cancel_one_of(std::vector<uint64_t>(planned.begin(), planned.end()));

    // The fake engine runs every item of the plan, including those cancelled meanwhile (their
    // blocks are free now and get garbage: no one may read it).
    StepResult result;
    for (const StepItem& it : plan.items) {
      const Request* r = sched.find(it.request_id);
      if (!r || r->state != RequestState::kRunning) {
        for (int p = it.begin; p < it.end; ++p) kv_at(it.blocks, p) = kGarbage;
        continue;
      }
      std::vector<TokenId>& tokens = expected[it.request_id];
      uint64_t fp = kRootFingerprint;
      for (int p = 0; p < it.end; ++p) {
        fp = fingerprint(fp, tokens[size_t(p)]);
        if (p < it.begin) {
          EXPECT_EQ(kv_at(it.blocks, p), fp) << "request " << it.request_id << " reads a foreign K/V at " << p;
        } else {
          EXPECT_EQ(pool.ref_count(it.blocks[size_t(p / kBlockTokens)]), 1) << "writes a shared block";
          kv_at(it.blocks, p) = fp;
        }
      }
      if (it.logits) {
        const TokenId t = TokenId(uniform(0, kVocab - 1));
        tokens.push_back(t);
        result.sampled.push_back({it.request_id, t, chance(0.04) ? FinishReason::kStop : FinishReason::kNone});
      }
    }
    sched.complete(result);

    for (const Request& r : sched.take_finished()) {
      ASSERT_EQ(expected.count(r.id), 1u) << "finished twice or never submitted: " << r.id;
      EXPECT_EQ(r.state, RequestState::kFinished);
      EXPECT_EQ(r.tokens, expected[r.id]);  // nothing lost or repeated across preemptions
      EXPECT_TRUE(r.blocks.empty());
      EXPECT_LE(r.generated_tokens(), max_tokens_of[r.id]);
      if (r.finish == FinishReason::kLength) {
        EXPECT_EQ(r.generated_tokens(), max_tokens_of[r.id]);
      }
      ++reasons[r.finish];
      if (r.scheduled_s) {
        queue_s[size_t(index_of(r.priority))] += *r.scheduled_s - r.arrival_s;
        ++finished[size_t(index_of(r.priority))];
      }
      if (r.finish != FinishReason::kCancelled && r.num_tokens() <= 70) answered.push_back(r.tokens);
      expected.erase(r.id);
    }

    // Block accounting: each block's references are exactly the block tables holding it.
    std::vector<int> refs(size_t(kBlocks), 0);
    for (const auto& [id, tokens] : expected) {
      const Request* r = sched.find(id);
      ASSERT_NE(r, nullptr);
      EXPECT_EQ(int(r->blocks.size()), pool.blocks_for(r->num_computed));  // no block held ahead
      if (r->state == RequestState::kWaiting) {
        EXPECT_EQ(r->num_computed, 0);
      }
      for (const BlockId b : r->blocks) ++refs[size_t(b)];
    }
    int used = 0;
    for (int b = 0; b < kBlocks; ++b) {
      EXPECT_EQ(pool.ref_count(b), refs[size_t(b)]) << "block " << b;
      used += refs[size_t(b)] > 0 ? 1 : 0;
    }
    const SchedulerStats s = sched.stats();
    EXPECT_EQ(s.kv.used_blocks, used);
    EXPECT_EQ(s.kv.used_blocks + s.kv.free_blocks + s.kv.evictable_blocks, kBlocks);
    EXPECT_LE(s.kv.evictable_blocks, s.kv.cached_blocks);
    EXPECT_LE(s.running, config.max_sequences);
    for (int c = 0; c < kNumPriorities; ++c)
      EXPECT_LE(s.waiting_by_class[size_t(c)], config.max_waiting[size_t(c)] + config.max_sequences);
    EXPECT_EQ(s.waiting + s.running, int(expected.size()));
    ASSERT_FALSE(::testing::Test::HasFailure()) << "at step " << step;
  }

  EXPECT_TRUE(sched.idle()) << "still live after " << step << " steps";
  EXPECT_TRUE(expected.empty());
  // The run went through every path it is meant to check.
  const SchedulerStats s = sched.stats();
  EXPECT_GT(s.preemptions, 0);
  EXPECT_GT(s.kv.prefix_hit_tokens, 0);
  EXPECT_GT(rejected, 0);
  EXPECT_GT(reasons[FinishReason::kCancelled], 0);
  EXPECT_GT(reasons[FinishReason::kStop], 0);
  EXPECT_GT(reasons[FinishReason::kLength], 0);
  std::printf("steps %d, requests %d (rejected %d), stop %d, length %d, cancelled %d, preemptions %lld, "
              "prefix hits %lld of %lld tokens\n",
              step, int(next_id - 1), rejected, reasons[FinishReason::kStop], reasons[FinishReason::kLength],
              reasons[FinishReason::kCancelled], (long long)s.preemptions, (long long)s.kv.prefix_hit_tokens,
              (long long)s.kv.prefix_query_tokens);
  if (!classes) return;
  // Urgent requests wait least, low ones most (aged ones are served as normal).
  const auto mean_queue_s = [&](Priority p) { return queue_s[size_t(index_of(p))] / finished[size_t(index_of(p))]; };
  std::printf("mean queue time: urgent %.3f s, normal %.3f s, low %.3f s\n", mean_queue_s(Priority::kUrgent),
              mean_queue_s(Priority::kNormal), mean_queue_s(Priority::kLow));
  EXPECT_LT(mean_queue_s(Priority::kUrgent), mean_queue_s(Priority::kNormal));
  EXPECT_LT(mean_queue_s(Priority::kNormal), mean_queue_s(Priority::kLow));
}

TEST(SchedulerSimulation, RandomLoadKeepsEveryInvariant) { simulate(FcfsPolicy(), false); }

TEST(SchedulerSimulation, RandomLoadWithPriorityClassesKeepsTheReserve) {
  simulate(PriorityPolicy(/*reserve_urgent=*/0.25, /*max_wait_s=*/0.5), true);
}

}  // namespace
}  // namespace joule::sched
