// Scheduling policy: the decisions the scheduler leaves open. The scheduler owns the mechanics
// (token budget, KV blocks, chunking, preemption, keeping the reserve); a policy orders requests,
// names preemption victims, says which requests may use capacity held in reserve and which may
// displace running ones. FCFS is vLLM's and llama-server's default; PriorityPolicy serves urgent,
// normal and low classes with a share of capacity reserved for urgent work (issue 17).
#pragma once

#include <span>
#include <tuple>

#include "sched/request.h"

namespace joule::sched {

class SchedulingPolicy {
 public:
  virtual ~SchedulingPolicy() = default;

  // A strict weak order: true when `a` is served before `b`. It orders the waiting queue for
  // admission and the running set for the step's token budget.
  virtual bool before(const Request& a, const Request& b) const = 0;

  // The class `r` is served as at `now_s`; the scheduler stores it in Request::served_as before
  // ordering, and never lets it become less urgent again. A policy ages long-waiting work here.
  virtual Priority served_as(const Request& r, double now_s) const { return r.priority; }

  // The request to preempt among `candidates` (non-empty, in `before` order). The default takes
  // the last: the least urgent, and for FCFS the newest (as vLLM).
  virtual const Request& preemption_victim(std::span<const Request* const> candidates) const {
    return *candidates.back();
  }

  // The share of running sequences, tokens per step and KV blocks that requests which may not
  // use the reserve may hold together; 1 reserves nothing.
  virtual double unreserved_share() const { return 1.0; }
  virtual bool may_use_reserve(const Request& r) const { return true; }

  // Whether a waiting `candidate` that cannot start (no sequence or KV blocks free) may preempt
  // the running `victim` to start in this step.
  virtual bool may_preempt_for(const Request& candidate, const Request& victim) const { return false; }
};

// First come, first served: arrival time, then id (a total order, so equal times stay stable).
class FcfsPolicy final : public SchedulingPolicy {
 public:
  bool before(const Request& a, const Request& b) const override {
    return a.arrival_s != b.arrival_s ? a.arrival_s < b.arrival_s : a.id < b.id;
  }
};

// Urgent, then normal, then low; FCFS within a class. `reserve_urgent` of every capacity is kept
// for urgent requests: normal and low work never uses it, even while no urgent request is there
// (so an urgent arrival starts at once). An urgent request that cannot start preempts the least
// urgent, newest running non-urgent one. A low request older than `max_wait_s` is served as
// normal (never as urgent: the reserve stays for the class it was made for).
class PriorityPolicy final : public SchedulingPolicy {
 public:
  PriorityPolicy(double reserve_urgent, double max_wait_s) : reserve_(reserve_urgent), max_wait_s_(max_wait_s) {}

  bool before(const Request& a, const Request& b) const override {
    return std::tie(a.served_as, a.arrival_s, a.id) < std::tie(b.served_as, b.arrival_s, b.id);
  }
  Priority served_as(const Request& r, double now_s) const override {
    return r.priority == Priority::kLow && now_s - r.arrival_s >= max_wait_s_ ? Priority::kNormal : r.priority;
  }
  double unreserved_share() const override { return 1.0 - reserve_; }
  bool may_use_reserve(const Request& r) const override { return r.priority == Priority::kUrgent; }
  bool may_preempt_for(const Request& candidate, const Request& victim) const override {
    return candidate.priority == Priority::kUrgent && victim.priority != Priority::kUrgent;
  }

 private:
  double reserve_, max_wait_s_;
};

}  // namespace joule::sched
