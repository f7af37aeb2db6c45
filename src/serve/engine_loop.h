// The engine thread of joule serve: it alone touches the BatchEngine (and so the scheduler), runs
// steps while there is work, reads the meter at every step boundary to charge each step's energy
// to its requests (energy_ledger.h), and answers each request through its own channel. Other
// threads (HTTP handlers) submit and cancel through a bounded inbox; nothing they do blocks a step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "energy/meter.h"
#include "govern/governor.h"
#include "serve/api.h"
#include "serve/batch_engine.h"
#include "serve/energy_ledger.h"

namespace joule::serve {

// What a finished request reports (the JSON log line, the usage, the latency histograms).
struct FinishedRequest {
  uint64_t id = 0;
  sched::Priority priority = sched::Priority::kNormal;
  sched::FinishReason finish = sched::FinishReason::kNone;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int prefix_hit_tokens = 0;
  int preemptions = 0;
  double queue_s = 0;
  std::optional<double> ttft_s;
  std::optional<double> tpot_s;  // (e2e - ttft) / (completion_tokens - 1), as vLLM
  double e2e_s = 0;
  std::optional<RequestEnergy> energy;  // when the meter is on
};

// The JSON log line: id, priority, finish reason, prompt and output tokens, prefix-cache hits, preemptions,
// queue / TTFT / TPOT / end-to-end ms, energy J with its split and source.
nlohmann::json finished_json(const FinishedRequest& f);

// One request's events, from the engine thread to the thread answering it. Bounded by the
// request's max_tokens; the consumer waits with a timeout so it can watch its client.
struct Event {
  enum Kind { kAccepted, kRejected, kPromptLogprobs, kToken, kFinished } kind = kAccepted;
  ApiError error;        // kRejected
  std::vector<TokenLogprobs> prompt_logprobs;  // kPromptLogprobs: the next prompt positions'
  Emitted token;         // kToken
  FinishedRequest done;  // kFinished

  static Event accepted() { return Event{}; }
  static Event rejected(ApiError e) {
    Event ev;
    ev.kind = kRejected;
    ev.error = std::move(e);
    return ev;
  }
  static Event of_prompt(std::vector<TokenLogprobs> lps) {
    Event ev;
    ev.kind = kPromptLogprobs;
    ev.prompt_logprobs = std::move(lps);
    return ev;
  }
  static Event of_token(Emitted t) {
    Event ev;
    ev.kind = kToken;
    ev.token = std::move(t);
    return ev;
  }
  static Event finished(FinishedRequest f) {
    Event ev;
    ev.kind = kFinished;
    ev.done = std::move(f);
    return ev;
  }
};

class Channel {
 public:
  void push(Event e);
  // The next event, or nullopt after timeout_s.
  std::optional<Event> pop(double timeout_s);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
};

struct Submission {
  std::vector<TokenId> prompt;
  GenerationParams params;
  double arrival_s = 0;
  sched::Priority priority = sched::Priority::kNormal;
};

// The governor as the loop drives it: updated every interval_s with the interval's average power
// (from the ledger), the hottest temperature (temperature_c, and the meter's GPU readings) and
// the p90 latency of the requests that finished in it; its throttle pauses admission per class and
// paces steps (rest after each, counted as idle energy).
struct LoopGovernor {
  govern::Governor* governor = nullptr;
  double interval_s = 1;
  std::function<std::optional<double>()> temperature_c;  // may be empty
  // Engine thread: after each update, with its decisions (metrics, the log).
  std::function<void(const govern::GovernorSample&, const govern::Throttle&, const std::vector<govern::Decision>&)>
      on_update;
};

// Called on the engine thread: after each step (the scheduler's state, the step's prompt and
// generated tokens) and for every finished request (metrics, the JSON log).
struct LoopHooks {
  std::function<void(const sched::SchedulerStats&, int prompt_tokens, int generated_tokens)> on_step;
  std::function<void(const FinishedRequest&)> on_finish;
};

class EngineLoop {
 public:
  // meter may be null (no energy); engine and meter outlive the loop. max_inbox bounds
  // submissions not yet seen by the engine thread.
  EngineLoop(BatchEngine& engine, energy::Meter* meter, LoopHooks hooks, size_t max_inbox = 64);
  ~EngineLoop();  // stops the thread; requests still live are cancelled

  void set_governor(LoopGovernor g) { gov_ = std::move(g); }  // before start()
  void start();
  // Thread-safe. The channel's first event is kAccepted or kRejected (429 when full, with a
  // Retry-After from the class's queue and the rate requests finish at).
  std::shared_ptr<Channel> submit(uint64_t id, Submission s);
  void cancel(uint64_t id);  // thread-safe; a no-op for an id that already ended
  // Thread-safe: waits until no request is live or timeout_s passes; true when idle.
  bool wait_idle(double timeout_s);
  void stop();

  // Live requests, for /health and the drain (any thread).
  int live() const { return live_.load(); }
  const EnergyLedger& ledger() const { return ledger_; }  // engine thread, or after stop()
  // The ledger's totals so far (any thread): idle and charged to requests, J; the last power, W.
  struct EnergyTotals {
    double idle_j = 0;
    double charged_j = 0;
    double power_w = 0;
  };
  EnergyTotals energy_totals() const;
  // After stop(): the meter's own window over the loop's life (opened at the ledger's first
  // reading, closed at its last), summed over the accounted domains: what the requests' shares
  // plus idle must add up to. nullopt without a meter or when the window has no energy.
  std::optional<double> metered_j() const { return metered_j_; }
  bool energy_on() const { return ledger_.on(); }
  std::string energy_source() const;

 private:
  void run();
  void drain_inbox();
  void read_meter(bool step_ran, double step_s);
  void finish_requests();
  void release_live(int n);  // n live requests ended: wakes wait_idle
  void govern_if_due();
  void pace(double step_s);
  ApiError queue_full(std::string message, int queued) const;

  BatchEngine& engine_;
  energy::Meter* meter_;
  LoopHooks hooks_;
  const size_t max_inbox_;
  EnergyLedger ledger_;

  mutable std::mutex mu_;  // guards the inbox, cancels, stop_ and totals_
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  struct Pending {
    uint64_t id;
    Submission s;
    std::shared_ptr<Channel> ch;
  };
  std::deque<Pending> inbox_;
  std::vector<uint64_t> cancels_;
  bool stop_ = false;
  EnergyTotals totals_;
  std::atomic<int> live_{0};
  std::atomic<double> finish_rate_hz_{0};  // requests ending per second, recently

  // Engine thread only (metered_j_ is read after the thread has ended).
  std::unordered_map<uint64_t, std::shared_ptr<Channel>> channels_;
  std::optional<double> metered_j_;
  double last_read_s_ = 0;
  std::deque<double> finish_times_s_;  // of the last requests that ended, for finish_rate_hz_
  LoopGovernor gov_;
  govern::Throttle throttle_;
  double gov_last_s_ = 0, gov_last_j_ = 0;
  std::optional<double> meter_temp_c_;             // hottest in the last meter reading (GPUs)
  std::vector<double> interval_tpot_ms_, interval_ttft_ms_;  // finished in this interval (bounded)
  std::thread thread_;
};

}  // namespace joule::serve
