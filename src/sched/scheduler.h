// Continuous batching with chunked prefill (vLLM's scheduler, llama.cpp's unified batch): every
// step computes one token of each decoding sequence first, then chunks of prompts, within a token
// budget and a sequence limit. The scheduler decides what runs and owns the KV block tables; the
// engine runs a StepPlan (one batched forward pass), samples, decides which requests end, and
// reports back with complete(). Policy (order, aging, preemption victims, who may use the reserve
// and displace others) is a SchedulingPolicy; the scheduler keeps its rules.
//
// KV blocks: a request is admitted only when the blocks for its first chunk can be had (after a
// prefix-cache hit, which it computes from); it grows block by block as it runs. When a running
// request cannot get a block, the policy's victim (FCFS: the newest) is preempted: its blocks are
// released and it goes back to the waiting queue to be recomputed from its prompt and the tokens
// it generated, usually largely from the prefix cache (vLLM's recompute preemption). The most
// urgent request can always proceed, as submit() refuses any request the whole pool (or its
// class's share of it) cannot hold.
//
// Reserve: requests the policy keeps out of the reserve hold together at most its unreserved
// share of the running sequences, of each step's tokens and of the KV blocks (each rounded to the
// nearest whole, at least one); a block shared by several of them counts once per holder, so the
// reserve is never entered. A waiting request the policy lets displace others preempts running
// ones in the same step when it cannot otherwise start.
//
// Not thread-safe: one thread (the engine loop) calls everything; a server posts submissions and
// cancellations to that thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "sched/kv_pool.h"
#include "sched/policy.h"
#include "sched/request.h"

namespace joule::sched {

struct SchedulerConfig {
  int max_sequences = 8;      // running at once (llama-server's -np, vLLM's max_num_seqs)
  int max_batch_tokens = 512;  // tokens per step, decode and prefill (vLLM's max_num_batched_tokens)
  // Waiting requests at most per priority class; submit() refuses more (HTTP 429). Preempted
  // requests return to the queue regardless, so it can exceed this by up to max_sequences.
  std::array<int, kNumPriorities> max_waiting = {64, 64, 64};
};
// kInvalidArgument naming the bad field; max_batch_tokens >= max_sequences, so every running
// sequence's decode token fits in a step.
Status validate(const SchedulerConfig& c);

// One request's share of a step.
struct StepItem {
  uint64_t request_id = 0;
  int begin = 0;  // positions [begin, end) of the request's tokens are computed in this step
  int end = 0;
  bool logits = false;  // end reaches the request's last token: sample the next one from it
  bool decode = false;  // a single generated token; otherwise a prompt (or recompute) chunk
  std::vector<TokenId> tokens;  // ids at [begin, end)
  std::vector<BlockId> blocks;  // block table covering [0, end)
};

struct StepPlan {
  uint64_t step = 0;  // 1, 2, ... per plan()
  int block_tokens = 0;
  std::vector<StepItem> items;  // decodes first, then prefill chunks, each in policy order

  bool empty() const { return items.empty(); }
  int prefill_tokens() const;
  int decode_tokens() const;
};

// What the engine sampled for one item with logits, and whether that ends the request (EOS or a
// stop string: kStop; the scheduler itself ends it with kLength at max_tokens).
struct SampledToken {
  uint64_t request_id = 0;
  TokenId token = 0;
  FinishReason finish = FinishReason::kNone;
};

struct StepResult {
  std::vector<SampledToken> sampled;
};

// What the server exports (vLLM's num_requests_waiting/running, kv_cache_usage_perc, ...).
// Per priority class where an array is indexed by index_of(Priority).
struct SchedulerStats {
  int waiting = 0;
  int running = 0;
  std::array<int, kNumPriorities> waiting_by_class{};
  std::array<int, kNumPriorities> running_by_class{};
  int step_prefill_tokens = 0;  // in the last plan
  int step_decode_tokens = 0;
  int64_t preemptions = 0;  // since start
  int64_t rejected = 0;     // submissions refused with a full queue
  std::array<int64_t, kNumPriorities> preemptions_by_class{};
  std::array<int64_t, kNumPriorities> rejected_by_class{};
  KvPoolStats kv;
};

// What requests outside the policy's reserve may hold together (all of it when nothing is
// reserved).
struct UnreservedCapacity {
  int sequences = 0;
  int step_tokens = 0;
  int kv_blocks = 0;
};

class Scheduler {
 public:
  using Clock = std::function<double()>;  // seconds; the same clock as Request::arrival_s

  // config must validate(); pool and policy must outlive the scheduler.
  Scheduler(const SchedulerConfig& config, KvBlockPool& pool, const SchedulingPolicy& policy,
            Clock clock = monotonic_seconds);

  // Queues a request. kInvalidArgument: duplicate live id, empty prompt, max_tokens < 1, or more
  // tokens than the whole KV pool (or its share of it) holds: it could never run.
  // kResourceExhausted: its class's waiting queue is full (answer 429, retry later).
  Status submit(Request request);

  // Ends a waiting or running request now and releases its blocks; reason is kCancelled or
  // kError. May come between plan() and complete(): that step's work for it is dropped.
  // kNotFound for an id that is not live.
  Status cancel(uint64_t id, FinishReason reason = FinishReason::kCancelled);

  // The next step. Must alternate with complete(); an empty plan means nothing can run.
  StepPlan plan();

  // Records the step planned last: advances each item's computed tokens, appends the sampled
  // tokens (one per item with logits, none for others), ends finished requests and releases
  // their blocks, and publishes newly full blocks to the prefix cache.
  void complete(const StepResult& result);

  // Requests that ended (finished or cancelled) since the last call, in the order they ended.
  std::vector<Request> take_finished();

  const Request* find(uint64_t id) const;  // a live (waiting or running) request, else nullptr
  bool idle() const { return requests_.empty(); }
  SchedulerStats stats() const;
  const SchedulerConfig& config() const { return config_; }
  const KvBlockPool& pool() const { return pool_; }
  const UnreservedCapacity& unreserved() const { return unreserved_; }
  // Classes whose waiting requests may start (all by default); a paused class waits in its queue
  // (the governor pauses low, then normal work under a power cap or when hot).
  void set_admission(const std::array<bool, kNumPriorities>& admit) { admit_ = admit; }

 private:
  // Tokens left in the step being planned: in all, and for requests outside the reserve.
  struct Budget {
    int tokens = 0;
    int unreserved_tokens = 0;
  };
  bool reserved_from(const Request& r) const { return !policy_.may_use_reserve(r); }
  int tokens_for(const Request& r, int want, const Budget& b) const;
  int unreserved_running() const;
  int unreserved_blocks_held() const;
  void sort_by_policy(std::vector<Request*>& list) const;
  // Makes r's block table cover [0, end), preempting policy victims while blocks are short.
  // False when r itself was the victim.
  bool grow(Request& r, int end, StepPlan& plan, Budget& budget);
  // Starts r with the blocks of its first chunk; false when they cannot be had.
  bool admit(Request& r, StepPlan& plan, Budget& budget);
  // Preempts the policy's victim among the running requests that are `eligible`; the victim, or
  // null when none is.
  const Request* preempt_one(const std::function<bool(const Request&)>& eligible, StepPlan& plan, Budget& budget);
  // Preempts one running request the policy lets `candidate` displace; false when there is none.
  bool preempt_for(const Request& candidate, StepPlan& plan, Budget& budget);
  void add_item(StepPlan& plan, const Request& r, int n_tokens, Budget& budget);
  void preempt(Request& victim, StepPlan& plan, Budget& budget);
  void publish_full_blocks(Request& r);
  void end_request(Request& r, FinishReason reason);

  const SchedulerConfig config_;
  KvBlockPool& pool_;
  const SchedulingPolicy& policy_;
  const Clock clock_;
  const UnreservedCapacity unreserved_;
  std::unordered_map<uint64_t, Request> requests_;  // live requests; nodes keep their addresses
  std::vector<Request*> waiting_;
  std::vector<Request*> running_;
  std::vector<Request> finished_;
  // The plan in flight: (request id, begin, end, logits) of each item.
  struct InFlight {
    uint64_t request_id;
    int begin, end;
    bool logits;
  };
  std::vector<InFlight> in_flight_;
  bool planned_ = false;  // plan() returned and complete() has not yet come
  uint64_t step_ = 0;
  int last_prefill_tokens_ = 0;
  int last_decode_tokens_ = 0;
  std::vector<const Request*> preempted_in_step_;  // victims of the plan being made
  std::array<bool, kNumPriorities> admit_ = {true, true, true};
  std::array<int64_t, kNumPriorities> preemptions_{};
  std::array<int64_t, kNumPriorities> rejected_{};
};

}  // namespace joule::sched
