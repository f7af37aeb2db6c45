// /metrics of joule serve: vLLM's metric names and units where they fit, with a `joule_` prefix
// (vLLM writes `vllm:`, but colons are reserved for recording rules and `promtool check metrics`
// rejects them). prometheus-cpp keeps the registry and writes the text format; every update is
// thread-safe. Request-level series carry a `priority` label (urgent, normal, low).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "sched/scheduler.h"
#include "serve/engine_loop.h"

namespace joule::serve {

class ServeMetrics {
 public:
  // model: the served model's name (label model_name, as vLLM); energy_source: the ledger's
  // source label ("" when the meter is off: no energy metrics at all).
  ServeMetrics(const std::string& model, const std::string& energy_source);

  void on_http(const std::string& endpoint, int status);  // every answered request
  void on_step(const sched::SchedulerStats& s, int prompt_tokens, int generated_tokens);  // engine thread
  void on_finish(const FinishedRequest& f);                                            // engine thread
  // The governor's interval (engine thread): its power and temperature, levers and decisions.
  void on_governor(const govern::GovernorSample& s, const govern::Throttle& t, const std::vector<govern::Decision>& d);
  // The text format, with the energy totals brought up to date first.
  std::string render(const EngineLoop::EnergyTotals& energy);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Labels model_;
  std::string energy_source_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Counter>& request_success_;
  template <typename T>
  using PerClass = std::array<T*, sched::kNumPriorities>;
  PerClass<prometheus::Gauge> running_{}, waiting_{};
  prometheus::Gauge& kv_usage_;
  PerClass<prometheus::Counter> preemptions_{}, rejected_{};
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generation_tokens_;
  prometheus::Counter& prefix_queries_;
  prometheus::Counter& prefix_hits_;
  PerClass<prometheus::Histogram> ttft_{}, tpot_{}, e2e_{}, queue_{}, request_energy_{};
  prometheus::Counter* energy_requests_ = nullptr;
  prometheus::Counter* energy_idle_ = nullptr;
  prometheus::Gauge* power_ = nullptr;
  prometheus::Gauge& governor_duty_;
  PerClass<prometheus::Gauge> admission_open_{};
  prometheus::Family<prometheus::Counter>& governor_decisions_;
  prometheus::Gauge& temperature_;

  std::mutex mu_;  // the last values copied into the counters below
  std::array<int64_t, sched::kNumPriorities> last_preemptions_{}, last_rejected_{};
  int64_t last_prefix_queries_ = 0, last_prefix_hits_ = 0;
  double last_energy_requests_j_ = 0, last_energy_idle_j_ = 0;
};

}  // namespace joule::serve
