// Scheduling policy: the decisions the scheduler leaves open. The scheduler owns the mechanics
// (token budget, KV blocks, chunking, preemption); a policy only orders requests, names the
// preemption victim and may hold a request back. FCFS is vLLM's and llama-server's default; a
// priority policy with capacity reserved for urgent classes (issue 17) is another implementation
// of the same three calls.
#pragma once

#include <span>

#include "sched/request.h"

namespace joule::sched {

// What a policy sees when asked whether a waiting request may start in this step.
struct AdmissionView {
  std::span<const Request* const> running;  // including those admitted earlier in this step
  int max_sequences = 0;
  int step_tokens_left = 0;  // of the step's token budget
  int available_kv_blocks = 0;
};

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  // A strict weak order: true when `a` is served before `b`. It orders the waiting queue for
  // admission and the running set for the step's token budget.
  virtual bool before(const Request& a, const Request& b) const = 0;

  // The running request to preempt when one cannot get a KV block; `running` is non-empty and in
  // `before` order. The default takes the least urgent (for FCFS the newest, as vLLM).
  virtual const Request& preemption_victim(std::span<const Request* const> running) const {
    return *running.back();
  }

  // False holds `candidate` back in this step although it would fit, e.g. to keep sequences free
  // for a more urgent class; requests after it in the queue are still considered.
  virtual bool may_admit(const Request& candidate, const AdmissionView& view) const { return true; }
};

// First come, first served: arrival time, then id (a total order, so equal times stay stable).
class FcfsPolicy final : public SchedulingPolicy {
 public:
  bool before(const Request& a, const Request& b) const override {
    return a.arrival_s != b.arrival_s ? a.arrival_s < b.arrival_s : a.id < b.id;
  }
};

}  // namespace joule::sched
