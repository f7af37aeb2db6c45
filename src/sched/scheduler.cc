#include "sched/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
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
  for (int i = 0; i < kNumPriorities; ++i)
    if (c.max_waiting[size_t(i)] < 1)
      return InvalidArgument("max_waiting (" + std::string(priority_name(Priority(i))) + ") must be at least 1, got " +
                             std::to_string(c.max_waiting[size_t(i)]));
  return Status::Ok();
}

namespace {

// `share` of `total`, rounded to the nearest whole and at least one.
int share_of(int total, double share) {
  if (share >= 1) return total;
  return std::max(1, total - int(std::lround((1 - share) * total)));
}

UnreservedCapacity unreserved_capacity(const SchedulerConfig& c, const KvBlockPool& pool, double share) {
  JOULE_CHECK(share > 0 && share <= 1);
  return {share_of(c.max_sequences, share), share_of(c.max_batch_tokens, share), share_of(pool.n_blocks(), share)};
}

}  // namespace

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
    : config_(config),
      pool_(pool),
      policy_(policy),
      clock_(std::move(clock)),
      unreserved_(unreserved_capacity(config, pool, policy.unreserved_share())) {
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
  if (reserved_from(request) && pool_.blocks_for(most_tokens) > unreserved_.kv_blocks)
    return InvalidArgument(name + ": " + std::to_string(request.tokens.size()) + " prompt tokens and max_tokens " +
                           std::to_string(request.max_tokens) + " need " +
                           std::to_string(pool_.blocks_for(most_tokens)) + " KV blocks; " +
                           std::string(priority_name(request.priority)) + " requests may hold " +
                           std::to_string(unreserved_.kv_blocks) + " (the rest is reserved for urgent ones)");
  const size_t cls = size_t(index_of(request.priority));
  const auto queued = std::count_if(waiting_.begin(), waiting_.end(),
                                    [&](const Request* w) { return w->priority == request.priority; });
  if (queued >= config_.max_waiting[cls]) {
    ++rejected_[cls];
    return ResourceExhausted("the waiting queue for " + std::string(priority_name(request.priority)) +
                             " requests is full (" + std::to_string(queued) + " requests)");
  }
  // Only the submitter's fields are taken; the scheduler's start from their defaults.
  Request r;
  r.id = request.id;
  r.tokens = std::move(request.tokens);
  r.max_tokens = request.max_tokens;
  r.arrival_s = request.arrival_s;
  r.priority = request.priority;
  r.served_as = request.priority;
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

int Scheduler::tokens_for(const Request& r, int want, const Budget& b) const {
  return std::min({want, b.tokens, reserved_from(r) ? b.unreserved_tokens : b.tokens});
}

int Scheduler::unreserved_running() const {
  return int(std::count_if(running_.begin(), running_.end(), [this](const Request* r) { return reserved_from(*r); }));
}

int Scheduler::unreserved_blocks_held() const {
  int n = 0;
  for (const Request* r : running_) n += reserved_from(*r) ? int(r->blocks.size()) : 0;
  return n;
}

StepPlan Scheduler::plan() {
  JOULE_CHECK(!planned_);
  planned_ = true;
  StepPlan plan;
  plan.step = ++step_;
  plan.block_tokens = pool_.block_tokens();
  Budget budget{config_.max_batch_tokens, unreserved_.step_tokens};
  preempted_in_step_.clear();
  const double now_s = clock_();
  for (auto& [id, r] : requests_) r.served_as = std::min(r.served_as, policy_.served_as(r, now_s));

  // Running requests: one token for each decoding sequence first, so every stream advances every
  // step (inter-token latency), then the remaining prompt chunks; each pass in policy order.
  sort_by_policy(running_);
  for (const bool decode_pass : {true, false}) {
    const std::vector<Request*> order = running_;  // a copy: preemption edits running_
    for (Request* r : order) {
      if (budget.tokens == 0) break;
      if (r->state != RequestState::kRunning) continue;  // preempted earlier in this step
      const int left = r->num_tokens() - r->num_computed;
      if ((left == 1) != decode_pass) continue;
      const int n = tokens_for(*r, left, budget);
      if (n > 0 && grow(*r, r->num_computed + n, plan, budget)) add_item(plan, *r, n, budget);
    }
  }

  // Waiting requests in policy order while sequences, tokens and blocks last. After a preemption
  // only those the policy lets displace its victims start: the blocks just freed are what the
  // running requests need next (as vLLM). The first that cannot start stops admission, so a long
  // prompt is not overtaken forever by short ones.
  sort_by_policy(waiting_);
  const std::vector<Request*> queue = waiting_;  // a copy: preemption adds to waiting_
  for (Request* w : queue) {
    if (budget.tokens == 0) break;
    const bool may_follow = std::all_of(preempted_in_step_.begin(), preempted_in_step_.end(),
                                        [&](const Request* v) { return policy_.may_preempt_for(*w, *v); });
    if (!may_follow) break;
    if (!admit_[size_t(index_of(w->priority))]) continue;  // paused: later classes may still start
    if (reserved_from(*w) && (unreserved_running() >= unreserved_.sequences || budget.unreserved_tokens == 0)) break;
    bool started = false;
    do {
      started = int(running_.size()) < config_.max_sequences && admit(*w, plan, budget);
    } while (!started && preempt_for(*w, plan, budget));
    if (!started) break;
  }
  std::erase_if(waiting_, [](const Request* r) { return r->state == RequestState::kRunning; });

  JOULE_CHECK(budget.tokens >= 0 && budget.unreserved_tokens >= 0 && int(running_.size()) <= config_.max_sequences);
  JOULE_CHECK(unreserved_running() <= unreserved_.sequences && unreserved_blocks_held() <= unreserved_.kv_blocks);
  in_flight_.clear();
  for (const StepItem& it : plan.items) in_flight_.push_back({it.request_id, it.begin, it.end, it.logits});
  last_prefill_tokens_ = plan.prefill_tokens();
  last_decode_tokens_ = plan.decode_tokens();
  return plan;
}

bool Scheduler::grow(Request& r, int end, StepPlan& plan, Budget& budget) {
  const int need = pool_.blocks_for(end) - int(r.blocks.size());
  if (need <= 0) return true;
  for (;;) {
    // Past its share, only requests outside the reserve can free what it may use (r among them).
    const bool over_share = reserved_from(r) && unreserved_blocks_held() + need > unreserved_.kv_blocks;
    if (!over_share) {
      if (auto fresh = pool_.allocate(need)) {
        r.blocks.insert(r.blocks.end(), fresh->begin(), fresh->end());
        return true;
      }
    }
    // r itself is always a candidate, so there is always a victim.
    const Request* v = preempt_one([&](const Request& x) { return !over_share || reserved_from(x); }, plan, budget);
    JOULE_CHECK(v != nullptr);
    if (v == &r) return false;
  }
}

bool Scheduler::admit(Request& r, StepPlan& plan, Budget& budget) {
  // The last token is computed even when its block is cached: its logits give the next token.
  const int n_tokens = r.num_tokens();
  const PrefixMatch match =
      r.skip_prefix_cache ? PrefixMatch{} : pool_.find_prefix(std::span(r.tokens).first(size_t(n_tokens - 1)));
  const int begin = int(match.blocks.size()) * pool_.block_tokens();
  const int n = tokens_for(r, n_tokens - begin, budget);
  if (n == 0) return false;
  const int table_blocks = pool_.blocks_for(begin + n);
  if (reserved_from(r) && unreserved_blocks_held() + table_blocks > unreserved_.kv_blocks) return false;
  auto table = pool_.allocate_with_prefix(match, table_blocks - int(match.blocks.size()));
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

const Request* Scheduler::preempt_one(const std::function<bool(const Request&)>& eligible, StepPlan& plan,
                                      Budget& budget) {
  sort_by_policy(running_);  // requests admitted in this step are at its end
  std::vector<const Request*> candidates;
  for (const Request* x : running_)
    if (eligible(*x)) candidates.push_back(x);
  if (candidates.empty()) return nullptr;
  const auto victim = std::find(running_.begin(), running_.end(), &policy_.preemption_victim(candidates));
  JOULE_CHECK(victim != running_.end());  // the policy must name a running request
  Request* v = *victim;
  preempt(*v, plan, budget);
  return v;
}

bool Scheduler::preempt_for(const Request& candidate, StepPlan& plan, Budget& budget) {
  return preempt_one([&](const Request& x) { return policy_.may_preempt_for(candidate, x); }, plan, budget) != nullptr;
}

void Scheduler::add_item(StepPlan& plan, const Request& r, int n_tokens, Budget& budget) {
  StepItem item;
  item.request_id = r.id;
  item.begin = r.num_computed;
  item.end = r.num_computed + n_tokens;
  item.logits = item.end == r.num_tokens();
  item.decode = n_tokens == 1 && item.begin >= r.prompt_tokens;
  item.tokens.assign(r.tokens.begin() + item.begin, r.tokens.begin() + item.end);
  JOULE_CHECK(int(r.blocks.size()) == pool_.blocks_for(item.end));
  item.blocks = r.blocks;
  budget.tokens -= n_tokens;
  if (reserved_from(r)) budget.unreserved_tokens -= n_tokens;
  plan.items.push_back(std::move(item));
}

void Scheduler::preempt(Request& victim, StepPlan& plan, Budget& budget) {
  // Its share of this step, if it had one already, goes back to the budget.
  const auto planned = std::find_if(plan.items.begin(), plan.items.end(),
                                    [&](const StepItem& it) { return it.request_id == victim.id; });
  if (planned != plan.items.end()) {
    budget.tokens += planned->end - planned->begin;
    if (reserved_from(victim)) budget.unreserved_tokens += planned->end - planned->begin;
    plan.items.erase(planned);
  }
  pool_.release(victim.blocks);  // its published blocks stay cached: the recompute may find them
  victim.blocks.clear();
  victim.num_computed = 0;
  victim.hashed_blocks = 0;
  victim.last_block_hash = kRootHash;
  victim.state = RequestState::kWaiting;
  ++victim.preemptions;
  ++preemptions_[size_t(index_of(victim.priority))];
  preempted_in_step_.push_back(&victim);
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
  for (const Request* r : waiting_) ++s.waiting_by_class[size_t(index_of(r->priority))];
  for (const Request* r : running_) ++s.running_by_class[size_t(index_of(r->priority))];
  s.step_prefill_tokens = last_prefill_tokens_;
  s.step_decode_tokens = last_decode_tokens_;
  s.preemptions_by_class = preemptions_;
  s.rejected_by_class = rejected_;
  s.preemptions = std::accumulate(preemptions_.begin(), preemptions_.end(), int64_t{0});
  s.rejected = std::accumulate(rejected_.begin(), rejected_.end(), int64_t{0});
  s.kv = pool_.stats();
  return s;
}

}  // namespace joule::sched
