// The scheduler with a fake clock and a fake engine (samples a token per item with logits, runs
// nothing): decode first, chunked prefill in the token budget, FCFS, admission against KV blocks,
// the bounded queue, cancellation, prefix reuse, preemption, and a policy in issue 17's shape
// plugged in without touching the scheduler.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <tuple>

namespace joule::sched {
namespace {

struct Harness {
  Harness(const SchedulerConfig& config, int n_blocks, int block_tokens, const SchedulingPolicy* policy = nullptr)
      : pool(n_blocks, block_tokens), sched(config, pool, policy ? *policy : fcfs, [this] { return now_s; }) {}

  // One step of a fake engine: each item with logits samples the position of the token it
  // produces (so a request's tokens are checkable after a preemption), ending the requests in
  // `stop` with kStop.
  StepPlan step(const std::set<uint64_t>& stop = {}) {
    StepPlan plan = sched.plan();
    sched.complete(sample(plan, stop));
    return plan;
  }
  static StepResult sample(const StepPlan& plan, const std::set<uint64_t>& stop = {}) {
    StepResult r;
    for (const StepItem& it : plan.items)
      if (it.logits)
        r.sampled.push_back({it.request_id, TokenId(it.end),
                             stop.contains(it.request_id) ? FinishReason::kStop : FinishReason::kNone});
    return r;
  }
  RequestState state(uint64_t id) const { return sched.find(id) ? sched.find(id)->state : RequestState::kFinished; }

  double now_s = 0;
  KvBlockPool pool;
  FcfsPolicy fcfs;
  Scheduler sched;
};

std::vector<TokenId> prompt_of(int n, TokenId first) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

Request request(uint64_t id, std::vector<TokenId> prompt, int max_tokens, double arrival_s = 0,
                Priority priority = Priority::kNormal) {
  Request r;
  r.id = id;
  r.tokens = std::move(prompt);
  r.max_tokens = max_tokens;
  r.arrival_s = arrival_s;
  r.priority = priority;
  return r;
}

// (id, begin, end, logits, decode) per item, for compact expectations.
using Item = std::tuple<uint64_t, int, int, bool, bool>;
std::vector<Item> items(const StepPlan& p) {
  std::vector<Item> out;
  for (const StepItem& it : p.items) out.emplace_back(it.request_id, it.begin, it.end, it.logits, it.decode);
  return out;
}

TEST(Scheduler, ConfigIsValidated) {
  EXPECT_TRUE(validate(SchedulerConfig{}).ok());
  EXPECT_FALSE(validate(SchedulerConfig{.max_sequences = 0}).ok());
  const Status s = validate(SchedulerConfig{.max_sequences = 8, .max_batch_tokens = 4});
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("max_batch_tokens"), std::string::npos);
  EXPECT_FALSE(validate(SchedulerConfig{.max_waiting = {64, 64, 0}}).ok());
}

TEST(Scheduler, DecodesFirstThenChunkedPrefillWithinTheTokenBudget) {
  Harness h({.max_sequences = 4, .max_batch_tokens = 8, .max_waiting = {8, 8, 8}}, 64, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(3, 0), 10)).ok());
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 0, 3, true, false}}));

  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(20, 100), 2)).ok());
  const StepPlan p2 = h.step();
  EXPECT_EQ(items(p2), (std::vector<Item>{{1, 3, 4, true, true}, {2, 0, 7, false, false}}));
  EXPECT_EQ(p2.items[1].tokens, prompt_of(7, 100));
  EXPECT_EQ(p2.items[1].blocks.size(), 2u);
  EXPECT_EQ(p2.decode_tokens(), 1);
  EXPECT_EQ(p2.prefill_tokens(), 7);
  EXPECT_EQ(h.sched.stats().step_decode_tokens, 1);
  EXPECT_EQ(h.sched.stats().step_prefill_tokens, 7);
  EXPECT_EQ(h.sched.stats().running, 2);

  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 4, 5, true, true}, {2, 7, 14, false, false}}));
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 5, 6, true, true}, {2, 14, 20, true, false}}));
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 6, 7, true, true}, {2, 20, 21, true, true}}));
  EXPECT_EQ(h.state(2), RequestState::kFinished);  // max_tokens 2
}

TEST(Scheduler, DecodesComeBeforeAMoreUrgentRequestsPrefill) {
  Harness h({.max_sequences = 4, .max_batch_tokens = 8, .max_waiting = {8, 8, 8}}, 64, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(2, 0), 10, /*arrival_s=*/1)).ok());
  h.step();
  // Arrived earlier (the server stamped it before tokenizing) but queued later.
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(20, 100), 1, /*arrival_s=*/0)).ok());
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 2, 3, true, true}, {2, 0, 7, false, false}}));
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 3, 4, true, true}, {2, 7, 14, false, false}}));
}

TEST(Scheduler, ALongPromptIsSplitOverSeveralSteps) {
  Harness h({.max_sequences = 2, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 64, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(50, 0), 1)).ok());
  std::vector<Item> seen;
  std::vector<size_t> table_sizes;
  while (!h.sched.idle()) {
    const StepPlan p = h.step();
    ASSERT_EQ(p.items.size(), 1u);
    seen.push_back(items(p)[0]);
    table_sizes.push_back(p.items[0].blocks.size());
  }
  EXPECT_EQ(seen, (std::vector<Item>{{1, 0, 16, false, false},
                                     {1, 16, 32, false, false},
                                     {1, 32, 48, false, false},
                                     {1, 48, 50, true, false}}));
  EXPECT_EQ(table_sizes, (std::vector<size_t>{4, 8, 12, 13}));  // blocks grow with the chunks

  const std::vector<Request> done = h.sched.take_finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].finish, FinishReason::kLength);
  EXPECT_EQ(done[0].generated_tokens(), 1);
  EXPECT_TRUE(done[0].blocks.empty());
  const KvPoolStats kv = h.pool.stats();
  EXPECT_EQ(kv.used_blocks, 0);
  EXPECT_EQ(kv.evictable_blocks, 12);  // the full prompt blocks stay cached
}

TEST(Scheduler, AdmitsInArrivalOrder) {
  FcfsPolicy fcfs;
  Request a = request(1, {1}, 1, 5.0), b = request(2, {1}, 1, 5.0);
  EXPECT_TRUE(fcfs.before(a, b));  // equal arrival: by id
  EXPECT_FALSE(fcfs.before(b, a));

  Harness h({.max_sequences = 1, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 64, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(2, 0), 1, 3.0)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(2, 10), 1, 1.0)).ok());
  ASSERT_TRUE(h.sched.submit(request(3, prompt_of(2, 20), 1, 2.0)).ok());
  std::vector<uint64_t> order;
  while (!h.sched.idle()) {
    const StepPlan p = h.step();
    ASSERT_EQ(p.items.size(), 1u);  // one sequence at a time
    order.push_back(p.items[0].request_id);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{2, 3, 1}));
}

TEST(Scheduler, AdmissionWaitsForBlocksAndProceedsWhenFreed) {
  Harness h({.max_sequences = 4, .max_batch_tokens = 64, .max_waiting = {8, 8, 8}}, 4, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(12, 0), 4)).ok());    // 15 tokens: all 4 blocks
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(8, 100), 1)).ok());  // 2 blocks
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 0, 12, true, false}}));
  EXPECT_EQ(h.state(2), RequestState::kWaiting);  // 1 block left, its first chunk needs 2
  EXPECT_EQ(h.sched.stats().waiting, 1);
  for (int pos = 12; pos < 15; ++pos) {
    EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, pos, pos + 1, true, true}}));
    EXPECT_LE(h.pool.stats().used_blocks, 4);
  }
  EXPECT_EQ(h.state(1), RequestState::kFinished);
  EXPECT_EQ(h.state(2), RequestState::kWaiting);
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 0, 8, true, false}}));
  EXPECT_EQ(h.pool.stats().used_blocks, 0);  // request 2 finished too (max_tokens 1)
}

TEST(Scheduler, TheWaitingQueueIsBoundedAndRequestsAreValidated) {
  Harness h({.max_sequences = 1, .max_batch_tokens = 16, .max_waiting = {2, 2, 2}}, 4, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 1)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 0), 1)).ok());
  const Status full = h.sched.submit(request(3, prompt_of(4, 0), 1));
  EXPECT_EQ(full.code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(h.sched.stats().rejected, 1);
  EXPECT_EQ(h.sched.stats().waiting, 2);

  EXPECT_EQ(h.sched.submit(request(1, prompt_of(4, 0), 1)).code(), ErrorCode::kInvalidArgument);  // live id
  EXPECT_EQ(h.sched.submit(request(4, {}, 1)).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(h.sched.submit(request(4, prompt_of(4, 0), 0)).code(), ErrorCode::kInvalidArgument);
  // 16 tokens fit the pool (4 x 4): a 10-token prompt may generate 7 (the last is never cached).
  h.step();  // makes room in the queue
  EXPECT_TRUE(h.sched.submit(request(4, prompt_of(10, 0), 7)).ok());
  const Status too_big = h.sched.submit(request(5, prompt_of(10, 0), 8));
  EXPECT_EQ(too_big.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(too_big.message().find("KV blocks"), std::string::npos);
}

TEST(Scheduler, CancelReleasesBlocksAtOnce) {
  Harness h({.max_sequences = 1, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 16, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(10, 0), 5)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(10, 100), 5)).ok());
  h.step();
  EXPECT_EQ(h.pool.stats().used_blocks, 3);

  ASSERT_TRUE(h.sched.cancel(1).ok());
  EXPECT_EQ(h.pool.stats().used_blocks, 0);
  EXPECT_EQ(h.sched.stats().running, 0);
  ASSERT_TRUE(h.sched.cancel(2, FinishReason::kError).ok());  // a waiting one
  EXPECT_EQ(h.sched.stats().waiting, 0);
  EXPECT_EQ(h.sched.cancel(2).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(h.sched.idle());
  const std::vector<Request> done = h.sched.take_finished();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].finish, FinishReason::kCancelled);
  EXPECT_EQ(done[0].generated_tokens(), 1);
  EXPECT_EQ(done[1].finish, FinishReason::kError);
  EXPECT_TRUE(h.sched.take_finished().empty());
}

TEST(Scheduler, CancelWhileAStepRunsDropsThatStepsWork) {
  Harness h({.max_sequences = 2, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 16, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(6, 0), 5)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(6, 100), 5)).ok());
  const StepPlan p = h.sched.plan();
  ASSERT_EQ(p.items.size(), 2u);
  ASSERT_TRUE(h.sched.cancel(1).ok());
  EXPECT_EQ(h.pool.stats().used_blocks, 2);  // request 2's only
  // The client reconnects under the same id before the step ends.
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(6, 0), 5)).ok());
  h.sched.complete(Harness::sample(p));  // still carries a token for the cancelled request
  EXPECT_EQ(h.sched.find(1)->state, RequestState::kWaiting);
  EXPECT_EQ(h.sched.find(1)->num_tokens(), 6);
  EXPECT_EQ(h.sched.find(2)->num_tokens(), 7);
  ASSERT_EQ(h.sched.take_finished().size(), 1u);
}

TEST(Scheduler, PrefixReuseSkipsCachedFullBlocks) {
  Harness h({.max_sequences = 4, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 16, 4);
  const std::vector<TokenId> a = prompt_of(10, 0);
  ASSERT_TRUE(h.sched.submit(request(1, a, 1)).ok());
  h.step();
  ASSERT_TRUE(h.sched.idle());
  const std::vector<BlockId> cached = h.pool.find_prefix(a).blocks;
  ASSERT_EQ(cached.size(), 2u);

  // Same first two blocks, then different: computing starts at token 8.
  std::vector<TokenId> b(a.begin(), a.begin() + 8);
  b.insert(b.end(), {50, 51, 52, 53, 54});
  ASSERT_TRUE(h.sched.submit(request(2, b, 3)).ok());
  const StepPlan p = h.step();
  EXPECT_EQ(items(p), (std::vector<Item>{{2, 8, 13, true, false}}));
  EXPECT_EQ(std::vector<BlockId>(p.items[0].blocks.begin(), p.items[0].blocks.begin() + 2), cached);
  EXPECT_EQ(h.sched.find(2)->prefix_hit_tokens, 8);
  EXPECT_EQ(h.pool.ref_count(cached[0]), 1);
  EXPECT_EQ(h.pool.stats().prefix_hit_tokens, 8);
  EXPECT_EQ(h.pool.stats().prefix_query_tokens, 9 + 12);  // a's and b's, each less its last token

  // A prompt that is entirely cached still computes its last block: its logits are needed.
  ASSERT_TRUE(h.sched.submit(request(3, std::vector<TokenId>(a.begin(), a.begin() + 8), 1)).ok());
  ASSERT_TRUE(h.sched.submit(request(4, a, 1)).ok());
  const StepPlan q = h.sched.plan();
  EXPECT_EQ(items(q), (std::vector<Item>{{2, 13, 14, true, true}, {3, 4, 8, true, false}, {4, 8, 10, true, false}}));
  EXPECT_EQ(h.pool.ref_count(cached[0]), 3);
  h.sched.complete(Harness::sample(q));
  EXPECT_EQ(h.pool.ref_count(cached[0]), 1);  // 3 and 4 are done (max_tokens 1)
}

TEST(Scheduler, ARunningRequestWithoutABlockPreemptsTheNewest) {
  Harness h({.max_sequences = 2, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 4, 4);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 8, 0.0)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 100), 8, 1.0)).ok());
  h.step();                                       // both prompts: a block each
  for (int pos = 4; pos < 8; ++pos) h.step();     // both decode into a second block: pool full
  EXPECT_EQ(h.pool.available_blocks(), 0);

  // Request 1 needs a third block: request 2 (newest) is preempted, keeping what it generated.
  const StepPlan p = h.step();
  EXPECT_EQ(items(p), (std::vector<Item>{{1, 8, 9, true, true}}));
  EXPECT_EQ(h.sched.stats().preemptions, 1);
  const Request* r2 = h.sched.find(2);
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(r2->state, RequestState::kWaiting);
  EXPECT_EQ(r2->preemptions, 1);
  EXPECT_TRUE(r2->blocks.empty());
  EXPECT_EQ(r2->num_tokens(), 9);

  while (h.state(1) != RequestState::kFinished) {
    EXPECT_EQ(h.step().items.size(), 1u);  // not enough blocks for request 2's recompute yet
  }
  // Recomputed from its cached prompt block; its generated tokens are part of the recompute.
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 4, 9, true, false}}));
  while (!h.sched.idle()) h.step();
  std::vector<Request> done = h.sched.take_finished();
  ASSERT_EQ(done.size(), 2u);
  const Request& r = done[1];
  EXPECT_EQ(r.id, 2u);
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(r.generated_tokens(), 8);
  for (int pos = 4; pos < r.num_tokens(); ++pos) EXPECT_EQ(r.tokens[size_t(pos)], pos);  // none lost or repeated
}

TEST(Scheduler, APreemptedRequestLosesItsShareOfTheStep) {
  Harness h({.max_sequences = 2, .max_batch_tokens = 8, .max_waiting = {8, 8, 8}}, 6, 4);
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 100), 20, 1.0)).ok());
  h.step();
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(20, 0), 1, 0.0)).ok());  // older, queued later
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 4, 5, true, true}, {1, 0, 7, false, false}}));
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 5, 6, true, true}, {1, 7, 14, false, false}}));
  // Request 1's last chunk needs a fifth block and none is left: request 2 (newer) gives way, and
  // its decode, planned first in this step, is taken back.
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{1, 14, 20, true, false}}));
  EXPECT_EQ(h.state(2), RequestState::kWaiting);
  EXPECT_EQ(h.state(1), RequestState::kFinished);
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 4, 7, true, false}}));  // its prompt block was cached
}

TEST(Scheduler, RecordsTheEnginesStopAndTimestamps) {
  Harness h({.max_sequences = 2, .max_batch_tokens = 16, .max_waiting = {8, 8, 8}}, 16, 4);
  h.now_s = 10;
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(3, 0), 10, 10.0)).ok());
  h.now_s = 11;
  const StepPlan p = h.sched.plan();
  h.now_s = 12;
  h.sched.complete(Harness::sample(p));
  h.now_s = 13;
  h.step({1});
  const std::vector<Request> done = h.sched.take_finished();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].finish, FinishReason::kStop);
  EXPECT_EQ(done[0].generated_tokens(), 2);
  EXPECT_EQ(done[0].scheduled_s.value_or(-1), 11.0);
  EXPECT_EQ(done[0].first_token_s.value_or(-1), 12.0);
  EXPECT_EQ(done[0].finished_s.value_or(-1), 13.0);
  EXPECT_EQ(finish_reason_name(FinishReason::kStop), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::kLength), "length");
  EXPECT_EQ(finish_reason_name(FinishReason::kCancelled), "cancelled");
}

constexpr Priority kUrgent = Priority::kUrgent, kNormal = Priority::kNormal, kLow = Priority::kLow;

TEST(Priority, NamesRoundTrip) {
  for (const Priority p : {kUrgent, kNormal, kLow}) EXPECT_EQ(parse_priority(priority_name(p)), p);
  EXPECT_FALSE(parse_priority("high").has_value());
  EXPECT_FALSE(parse_priority("Urgent").has_value());
}

TEST(Priority, PerClassValues) {
  auto v = parse_per_class("urgent:0.1, low:0.3", "--mix");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ((*v)[0], 0.1);
  EXPECT_FALSE((*v)[1].has_value());
  EXPECT_EQ((*v)[2], 0.3);
  for (const char* bad : {"urgent", "high:1", "urgent:x", "urgent:1,urgent:2", "urgent:1e"}) {
    auto e = parse_per_class(bad, "--mix");
    EXPECT_EQ(e.status().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(e.status().message().find("--mix"), std::string::npos);
  }
}

TEST(PriorityScheduling, UrgentFirstThenNormalThenLowEachFcfs) {
  const PriorityPolicy policy(0.0, 1e9);
  Harness h({.max_sequences = 1, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 64, 4, &policy);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 1, 0.0, kLow)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 10), 1, 1.0, kNormal)).ok());
  ASSERT_TRUE(h.sched.submit(request(3, prompt_of(4, 20), 1, 2.0, kNormal)).ok());
  ASSERT_TRUE(h.sched.submit(request(4, prompt_of(4, 30), 1, 3.0, kUrgent)).ok());
  std::vector<uint64_t> order;
  for (int i = 0; i < 4; ++i) order.push_back(h.step().items.at(0).request_id);
  EXPECT_EQ(order, (std::vector<uint64_t>{4, 2, 3, 1}));
}

TEST(PriorityScheduling, TheReserveIsKeptForUrgentRequestsEvenWhenNoneWait) {
  // 5 sequences, 40 tokens per step, 40 blocks; 20 % reserved: normal and low get 4, 32, 32.
  const PriorityPolicy policy(0.2, 1e9);
  Harness h({.max_sequences = 5, .max_batch_tokens = 40, .max_waiting = {8, 8, 8}}, 40, 4, &policy);
  EXPECT_EQ(h.sched.unreserved().sequences, 4);
  EXPECT_EQ(h.sched.unreserved().step_tokens, 32);
  EXPECT_EQ(h.sched.unreserved().kv_blocks, 32);
  for (uint64_t id = 1; id <= 6; ++id)
    ASSERT_TRUE(h.sched.submit(request(id, prompt_of(12, TokenId(100 * id)), 20, double(id), id % 2 ? kLow : kNormal)).ok());
  StepPlan p = h.step();
  EXPECT_EQ(p.prefill_tokens(), 32);  // 2 whole prompts and 8 tokens of a third, within 32 of 40
  EXPECT_EQ(h.sched.stats().running, 3);
  for (int i = 0; i < 5; ++i) h.step();
  EXPECT_EQ(h.sched.stats().running, 4);  // never the fifth sequence
  EXPECT_EQ(h.sched.stats().waiting, 2);
  // An urgent arrival starts at once, in the reserve, preempting nobody.
  ASSERT_TRUE(h.sched.submit(request(7, prompt_of(12, 700), 4, 7.0, kUrgent)).ok());
  p = h.step();
  EXPECT_EQ(h.state(7), RequestState::kRunning);
  EXPECT_EQ(h.sched.stats().preemptions, 0);
}

TEST(PriorityScheduling, NormalWorkNeverHoldsReservedKvBlocks) {
  // 10 blocks of 4 tokens, half reserved: normal requests may hold 5 blocks (20 tokens).
  const PriorityPolicy policy(0.5, 1e9);
  Harness h({.max_sequences = 4, .max_batch_tokens = 64, .max_waiting = {8, 8, 8}}, 10, 4, &policy);
  EXPECT_EQ(h.sched.submit(request(9, prompt_of(20, 0), 2, 0.0, kNormal)).code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(8, 0), 10, 0.0, kNormal)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(8, 50), 10, 1.0, kNormal)).ok());
  for (int i = 0; i < 12 && h.sched.stats().kv.used_blocks < 10; ++i) {
    h.step();
    int held = 0;
    for (uint64_t id : {1, 2})
      if (const Request* r = h.sched.find(id)) held += int(r->blocks.size());
    EXPECT_LE(held, 5);
  }
  EXPECT_GE(h.sched.stats().preemptions, 1);  // the two outgrew the share and took turns
  EXPECT_EQ(h.sched.stats().preemptions_by_class[size_t(index_of(kNormal))], h.sched.stats().preemptions);
}

TEST(PriorityScheduling, AnUrgentRequestPreemptsTheLeastUrgentNewestWithinOneStep) {
  const PriorityPolicy policy(0.0, 1e9);  // no reserve: urgent must displace
  Harness h({.max_sequences = 3, .max_batch_tokens = 64, .max_waiting = {8, 8, 8}}, 64, 4, &policy);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 50, 0.0, kLow)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 10), 50, 1.0, kNormal)).ok());
  ASSERT_TRUE(h.sched.submit(request(3, prompt_of(4, 20), 50, 2.0, kLow)).ok());
  h.step();
  h.step();
  ASSERT_TRUE(h.sched.submit(request(4, prompt_of(4, 30), 5, 3.0, kUrgent)).ok());
  const StepPlan p = h.step();
  EXPECT_EQ(h.state(4), RequestState::kRunning);
  EXPECT_EQ(h.state(3), RequestState::kWaiting);  // low and newest
  EXPECT_EQ(h.state(1), RequestState::kRunning);
  EXPECT_EQ(h.state(2), RequestState::kRunning);
  for (const StepItem& it : p.items) EXPECT_NE(it.request_id, 3u);  // its decode token was taken back
  // A second urgent request takes the other low one; a third finds only normal and urgent work
  // and takes the normal one; a fourth waits: urgent requests never preempt each other.
  for (uint64_t id = 5; id <= 7; ++id) ASSERT_TRUE(h.sched.submit(request(id, prompt_of(4, TokenId(10 * id)), 5, double(id), kUrgent)).ok());
  h.step();
  EXPECT_EQ(h.state(5), RequestState::kRunning);
  EXPECT_EQ(h.state(6), RequestState::kRunning);
  EXPECT_EQ(h.state(7), RequestState::kWaiting);
  EXPECT_EQ(h.state(1), RequestState::kWaiting);
  EXPECT_EQ(h.state(2), RequestState::kWaiting);
}

TEST(PriorityScheduling, LowRequestsAgeToNormalAfterMaxWait) {
  const PriorityPolicy policy(0.0, 10.0);
  Harness h({.max_sequences = 1, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 64, 4, &policy);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 1, 0.0, kLow)).ok());
  h.now_s = 5;
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 10), 1, 5.0, kNormal)).ok());
  EXPECT_EQ(h.step().items.at(0).request_id, 2u);  // at 5 s the low one is still low
  h.now_s = 10;
  ASSERT_TRUE(h.sched.submit(request(3, prompt_of(4, 20), 1, 10.0, kNormal)).ok());
  EXPECT_EQ(h.step().items.at(0).request_id, 1u);  // now it is served as normal, and it came first
  EXPECT_EQ(h.sched.take_finished().back().served_as, kNormal);
}

TEST(PriorityScheduling, EachClassHasItsOwnQueueBound) {
  const PriorityPolicy policy(0.2, 1e9);
  Harness h({.max_sequences = 1, .max_batch_tokens = 32, .max_waiting = {1, 2, 1}}, 64, 4, &policy);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 5, 0.0, kLow)).ok());
  EXPECT_EQ(h.sched.submit(request(2, prompt_of(4, 0), 5, 0.0, kLow)).code(), ErrorCode::kResourceExhausted);
  ASSERT_TRUE(h.sched.submit(request(3, prompt_of(4, 0), 5, 0.0, kNormal)).ok());
  ASSERT_TRUE(h.sched.submit(request(4, prompt_of(4, 0), 5, 0.0, kNormal)).ok());
  const Status full = h.sched.submit(request(5, prompt_of(4, 0), 5, 0.0, kNormal));
  EXPECT_EQ(full.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(full.message().find("normal"), std::string::npos);
  ASSERT_TRUE(h.sched.submit(request(6, prompt_of(4, 0), 5, 0.0, kUrgent)).ok());
  const SchedulerStats s = h.sched.stats();
  EXPECT_EQ(s.rejected, 2);
  EXPECT_EQ(s.rejected_by_class, (std::array<int64_t, 3>{0, 1, 1}));
  EXPECT_EQ(s.waiting_by_class, (std::array<int, 3>{1, 2, 1}));
}

TEST(PriorityScheduling, PausedClassesWaitWhileOthersStart) {
  const PriorityPolicy policy(0.0, 1e9);
  Harness h({.max_sequences = 4, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 64, 4, &policy);
  h.sched.set_admission({true, true, false});  // low paused
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 5, 0.0, kLow)).ok());
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 10), 5, 1.0, kNormal)).ok());
  h.step();
  EXPECT_EQ(h.state(1), RequestState::kWaiting);
  EXPECT_EQ(h.state(2), RequestState::kRunning);
  h.sched.set_admission({true, true, true});
  h.step();
  EXPECT_EQ(h.state(1), RequestState::kRunning);
}

// FCFS-shaped custom policies still plug in: one that prefers the most urgent and names its
// preemption victim without touching the scheduler.
class OldestFirstVictim final : public SchedulingPolicy {
 public:
  bool before(const Request& a, const Request& b) const override {
    return std::tie(a.priority, a.arrival_s, a.id) < std::tie(b.priority, b.arrival_s, b.id);
  }
};

TEST(Scheduler, APolicyChoosesWhomToPreempt) {
  const OldestFirstVictim policy;
  Harness h({.max_sequences = 2, .max_batch_tokens = 32, .max_waiting = {8, 8, 8}}, 3, 4, &policy);
  ASSERT_TRUE(h.sched.submit(request(1, prompt_of(4, 0), 8, 0.0, kNormal)).ok());
  h.step();
  ASSERT_TRUE(h.sched.submit(request(2, prompt_of(4, 10), 8, 1.0, kUrgent)).ok());
  h.step();  // 1 decodes into its second block, 2 takes the last
  EXPECT_EQ(h.pool.available_blocks(), 0);
  // 2 needs a block: the older but less urgent 1 gives way.
  EXPECT_EQ(items(h.step()), (std::vector<Item>{{2, 4, 5, true, true}}));
  EXPECT_EQ(h.state(1), RequestState::kWaiting);
}

}  // namespace
}  // namespace joule::sched
