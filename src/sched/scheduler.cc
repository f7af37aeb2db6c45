#include "sched/scheduler.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/check.h"

namespace joule::sched {

Status validate(const SchedulerConfig& c) {
  if (c.max_sequences < 1)
    return InvalidArgument("max_sequences must be at least 1, got " + std::to_string(c.max_sequences));
  if (c.max_batch_tokens < c.max_sequences)
    return InvalidArgument("max_batch_tokens (" + std::to_string(c.max_batch_tokens) +
                           ") must be at least max_sequences (" + std::to_string(c.max_sequences) +
                           "), so every running sequence's next token fits in a step");
  if (c.max_waiting < 1)
    return InvalidArgument("max_waiting must be at least 1, got " + std::to_string(c.max_waiting));
  return Status::Ok();
}

int StepPlan::prefill_tokens() const {
  int n = 0;
  for (const StepItem& it : items) n += it.decode ? 0 : it.end - it.begin;
  return n;
}

int StepPlan::decode_tokens() const {
  int n = 0;
  for (const StepItem& it : items) n += it.decode ? 1 : 0;
  return n;
}

Scheduler::Scheduler(const SchedulerConfig& config, KvBlockPool& pool, const SchedulingPolicy& policy, Clock clock)
    : config_(config), pool_(pool), policy_(policy), clock_(std::move(clock)) {
  JOULE_CHECK(validate(config).ok());
}

Status Scheduler::submit(Request request) {
  const std::string name = "request " + std::to_string(request.id);
  if (requests_.contains(request.id)) return InvalidArgument(name + " is already queued or running");
  if (request.tokens.empty()) return InvalidArgument(name + " has an empty prompt");
  if (request.max_tokens < 1)
    return InvalidArgument(name + ": max_tokens must be at least 1, got " + std::to_string(request.max_tokens));
  // Its K/V at the most: the prompt and every generated token but the last. Admitting a request
  // the whole pool cannot hold would preempt everything else and still never finish.
  const int64_t most_tokens = int64_t(request.tokens.size()) + request.max_tokens - 1;
  if (pool_.blocks_for(most_tokens) > pool_.n_blocks())
    return InvalidArgument(name + ": " + std::to_string(request.tokens.size()) + " prompt tokens and max_tokens " +
                           std::to_string(request.max_tokens) + " need " +
                           std::to_string(pool_.blocks_for(most_tokens)) + " KV blocks of " +
                           std::to_string(pool_.block_tokens()) + " tokens; the pool has " +
                           std::to_string(pool_.n_blocks()));
  if (int(waiting_.size()) >= config_.max_waiting) {
    ++rejected_;
    return ResourceExhausted("the waiting queue is full (" + std::to_string(waiting_.size()) + " requests)");
  }
  // Only the submitter's fields are taken; the scheduler's start from their defaults.
  Request r;
  r.id = request.id;
  r.tokens = std::move(request.tokens);
  r.max_tokens = request.max_tokens;
  r.arrival_s = request.arrival_s;
  r.priority = request.priority;
  r.skip_prefix_cache = request.skip_prefix_cache;
  r.prompt_tokens = r.num_tokens();
  const uint64_t id = r.id;
  waiting_.push_back(&requests_.emplace(id, std::move(r)).first->second);
  return Status::Ok();
}

Status Scheduler::cancel(uint64_t id, FinishReason reason) {
  JOULE_CHECK(reason == FinishReason::kCancelled || reason == FinishReason::kError);
  const auto it = requests_.find(id);
  if (it == requests_.end()) return NotFound("no queued or running request " + std::to_string(id));
  end_request(it->second, reason);
  return Status::Ok();
}

void Scheduler::sort_by_policy(std::vector<Request*>& list) const {
  std::stable_sort(list.begin(), list.end(),
                   [this](const Request* a, const Request* b) { return policy_.before(*a, *b); });
}

StepPlan Scheduler::plan() {
  JOULE_CHECK(!planned_);
  planned_ = true;
  StepPlan plan;
  plan.step = ++step_;
  plan.block_tokens = pool_.block_tokens();
  int budget = config_.max_batch_tokens;
  const int64_t preemptions_before = preemptions_;

  // Running requests: one token for each decoding sequence first, so every stream advances every
  // step (inter-token latency), then the remaining prompt chunks; each pass in policy order.
  sort_by_policy(running_);
  for (const bool decode_pass : {true, false}) {
    const std::vector<Request*> order = running_;  // a copy: preemption edits running_
    for (Request* r : order) {
      if (r->state != RequestState::kRunning) continue;  // preempted earlier in this step
      const int left = r->num_tokens() - r->num_computed;
      if ((left == 1) != decode_pass) continue;
      const int n = std::min(left, budget);
      if (n == 0) break;
      if (grow(*r, r->num_computed + n, plan, budget)) add_item(plan, *r, n, budget);
    }
  }

  // Waiting requests in policy order while sequences, tokens and blocks last. None after a
  // preemption: the blocks just freed are what the running requests need next (as vLLM).
  if (preemptions_ == preemptions_before) {
    sort_by_policy(waiting_);
    for (Request* w : waiting_) {
      if (int(running_.size()) >= config_.max_sequences || budget == 0) break;
      const AdmissionView view{running_, config_.max_sequences, budget, pool_.available_blocks()};
      if (!policy_.may_admit(*w, view)) continue;
      // Out of blocks: the rest wait too, so a long prompt is not overtaken forever by short ones.
      if (!admit(*w, plan, budget)) break;
    }
    std::erase_if(waiting_, [](const Request* r) { return r->state == RequestState::kRunning; });
  }

  JOULE_CHECK(budget >= 0 && int(running_.size()) <= config_.max_sequences);
  in_flight_.clear();
  for (const StepItem& it : plan.items) in_flight_.push_back({it.request_id, it.begin, it.end, it.logits});
  last_prefill_tokens_ = plan.prefill_tokens();
  last_decode_tokens_ = plan.decode_tokens();
  return plan;
}

bool Scheduler::grow(Request& r, int end, StepPlan& plan, int& budget) {
  const int need = pool_.blocks_for(end) - int(r.blocks.size());
  if (need <= 0) return true;
  for (;;) {
    if (auto fresh = pool_.allocate(need)) {
      r.blocks.insert(r.blocks.end(), fresh->begin(), fresh->end());
      return true;
    }
    const Request& chosen = policy_.preemption_victim(running_);
    const auto victim = std::find(running_.begin(), running_.end(), &chosen);
    JOULE_CHECK(victim != running_.end());  // the policy must name a running request
    Request& v = **victim;
    preempt(v, plan, budget);
    if (&v == &r) return false;
  }
}

bool Scheduler::admit(Request& r, StepPlan& plan, int& budget) {
  // The last token is computed even when its block is cached: its logits give the next token.
  const int n_tokens = r.num_tokens();
  const PrefixMatch match =
      r.skip_prefix_cache ? PrefixMatch{} : pool_.find_prefix(std::span(r.tokens).first(size_t(n_tokens - 1)));
  const int begin = int(match.blocks.size()) * pool_.block_tokens();
  const int n = std::min(n_tokens - begin, budget);
  auto table = pool_.allocate_with_prefix(match, pool_.blocks_for(begin + n) - int(match.blocks.size()));
  if (!table) return false;
  r.blocks = std::move(*table);
  r.num_computed = begin;
  r.hashed_blocks = int(match.blocks.size());
  r.last_block_hash = match.last_hash;
  r.state = RequestState::kRunning;
  if (!r.scheduled_s) {  // a preempted request's recompute is no prompt cache hit
    r.scheduled_s = clock_();
    r.prefix_hit_tokens = begin;
  }
  running_.push_back(&r);
  add_item(plan, r, n, budget);
  return true;
}

void Scheduler::add_item(StepPlan& plan, const Request& r, int n_tokens, int& budget) {
  StepItem item;
  item.request_id = r.id;
  item.begin = r.num_computed;
  item.end = r.num_computed + n_tokens;
  item.logits = item.end == r.num_tokens();
  item.decode = n_tokens == 1 && item.begin >= r.prompt_tokens;
  item.tokens.assign(r.tokens.begin() + item.begin, r.tokens.begin() + item.end);
  JOULE_CHECK(int(r.blocks.size()) == pool_.blocks_for(item.end));
  item.blocks = r.blocks;
  budget -= n_tokens;
  plan.items.push_back(std::move(item));
}

void Scheduler::preempt(Request& victim, StepPlan& plan, int& budget) {
  // Its share of this step, if it had one already, goes back to the budget.
  const auto planned = std::find_if(plan.items.begin(), plan.items.end(),
                                    [&](const StepItem& it) { return it.request_id == victim.id; });
  if (planned != plan.items.end()) {
    budget += planned->end - planned->begin;
    plan.items.erase(planned);
  }
  pool_.release(victim.blocks);  // its published blocks stay cached: the recompute may find them
  victim.blocks.clear();
  victim.num_computed = 0;
  victim.hashed_blocks = 0;
  victim.last_block_hash = kRootHash;
  victim.state = RequestState::kWaiting;
  ++victim.preemptions;
  ++preemptions_;
  std::erase(running_, &victim);
  waiting_.push_back(&victim);
}

void Scheduler::publish_full_blocks(Request& r) {
  const int bt = pool_.block_tokens();
  for (; r.hashed_blocks < r.num_computed / bt; ++r.hashed_blocks) {
    const auto block_tokens = std::span(r.tokens).subspan(size_t(r.hashed_blocks) * size_t(bt), size_t(bt));
    r.last_block_hash = pool_.publish(r.blocks[size_t(r.hashed_blocks)], r.last_block_hash, block_tokens);
  }
}

void Scheduler::complete(const StepResult& result) {
  JOULE_CHECK(planned_);
  planned_ = false;
  std::unordered_map<uint64_t, const SampledToken*> sampled;
  for (const SampledToken& s : result.sampled) JOULE_CHECK(sampled.emplace(s.request_id, &s).second);
  size_t matched = 0;
  for (const InFlight& f : in_flight_) {
    const auto s = sampled.find(f.request_id);
    const bool has_token = s != sampled.end();
    JOULE_CHECK(!has_token || f.logits);  // tokens come only from items with logits
    matched += has_token ? 1 : 0;
    // Gone: cancelled while the step ran (a request since submitted under that id is waiting).
    const auto it = requests_.find(f.request_id);
    if (it == requests_.end() || it->second.state != RequestState::kRunning) continue;
    Request& r = it->second;
    JOULE_CHECK(r.num_computed == f.begin);
    r.num_computed = f.end;
    publish_full_blocks(r);
    if (!f.logits) continue;
    JOULE_CHECK(has_token);  // the engine samples every item with logits (or cancels it)
    r.tokens.push_back(s->second->token);
    if (!r.first_token_s) r.first_token_s = clock_();
    FinishReason reason = s->second->finish;
    // The engine normally says so itself; the scheduler enforces it, as submit() sized the
    // request's blocks by max_tokens.
    if (reason == FinishReason::kNone && r.generated_tokens() >= r.max_tokens) reason = FinishReason::kLength;
    if (reason != FinishReason::kNone) end_request(r, reason);
  }
  JOULE_CHECK(matched == result.sampled.size());  // every token belongs to an item of this step
  in_flight_.clear();
}

void Scheduler::end_request(Request& r, FinishReason reason) {
  pool_.release(r.blocks);
  r.blocks.clear();
  r.state = RequestState::kFinished;
  r.finish = reason;
  r.finished_s = clock_();
  std::erase(waiting_, &r);
  std::erase(running_, &r);
  const uint64_t id = r.id;
  finished_.push_back(std::move(r));
  requests_.erase(id);
}

std::vector<Request> Scheduler::take_finished() { return std::exchange(finished_, {}); }

const Request* Scheduler::find(uint64_t id) const {
  const auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : &it->second;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.waiting = int(waiting_.size());
  s.running = int(running_.size());
  s.step_prefill_tokens = last_prefill_tokens_;
  s.step_decode_tokens = last_decode_tokens_;
  s.preemptions = preemptions_;
  s.rejected = rejected_;
  s.kv = pool_.stats();
  return s;
}

}  // namespace joule::sched
