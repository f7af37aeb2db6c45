#include "serve/metrics.h"

#include <prometheus/text_serializer.h>

#include <limits>

namespace joule::serve {
namespace {

using prometheus::Histogram;

// vLLM's buckets for the same histograms.
const Histogram::BucketBoundaries kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
                                                  0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
const Histogram::BucketBoundaries kTpotBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,  0.4,
                                                  0.5,  0.75,  1.0,  2.5,   5.0, 7.5,  10.0, 20.0, 40.0};
const Histogram::BucketBoundaries kLatencyBuckets = {0.3,  0.5,  0.8,  1.0,  1.5,  2.0,   2.5,   5.0,   10.0,
                                                     15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0};
const Histogram::BucketBoundaries kEnergyBuckets = {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000};

template <typename B>
auto& family(B builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

// One series per priority class in `f`, each with `labels` and extra arguments (buckets).
template <typename T, typename... Args>
std::array<T*, sched::kNumPriorities> per_class(prometheus::Family<T>& f, const prometheus::Labels& labels,
                                                const Args&... args) {
  std::array<T*, sched::kNumPriorities> out{};
  for (int i = 0; i < sched::kNumPriorities; ++i) {
    prometheus::Labels l = labels;
    l["priority"] = std::string(sched::priority_name(sched::Priority(i)));
    out[size_t(i)] = &f.Add(l, args...);
  }
  return out;
}

}  // namespace

ServeMetrics::ServeMetrics(const std::string& model, const std::string& energy_source)
    : registry_(std::make_shared<prometheus::Registry>()),
      model_{{"model_name", model}},
      energy_source_(energy_source),
      http_requests_(family(prometheus::BuildCounter(), "joule_http_requests_total",
                            "HTTP requests answered, by endpoint and status code.", *registry_)),
      request_success_(family(prometheus::BuildCounter(), "joule_request_success_total",
                              "Requests that ended, by finish reason (stop, length, cancelled, error).",
                              *registry_)),
      running_(per_class(family(prometheus::BuildGauge(), "joule_num_requests_running",
                                "Requests in the running batch.", *registry_), model_)),
      waiting_(per_class(family(prometheus::BuildGauge(), "joule_num_requests_waiting",
                                "Requests waiting to be scheduled (each class's queue is bounded).", *registry_),
                         model_)),
      kv_usage_(family(prometheus::BuildGauge(), "joule_kv_cache_usage_perc",
                       "Fraction of KV-cache blocks held by requests (1 = full).", *registry_).Add(model_)),
      preemptions_(per_class(family(prometheus::BuildCounter(), "joule_num_preemptions_total",
                                    "Requests preempted (for KV-cache blocks or an urgent request; recomputed "
                                    "later).", *registry_), model_)),
      rejected_(per_class(family(prometheus::BuildCounter(), "joule_num_requests_rejected_total",
                                 "Requests refused with 429: their class's queue was full.", *registry_), model_)),
      prompt_tokens_(family(prometheus::BuildCounter(), "joule_prompt_tokens_total",
                            "Prompt tokens computed (prefill, recomputation included).", *registry_).Add(model_)),
      generation_tokens_(family(prometheus::BuildCounter(), "joule_generation_tokens_total",
                                "Tokens generated.", *registry_).Add(model_)),
      prefix_queries_(family(prometheus::BuildCounter(), "joule_prefix_cache_queries_total",
                             "Prompt tokens looked up in the prefix cache.", *registry_).Add(model_)),
      prefix_hits_(family(prometheus::BuildCounter(), "joule_prefix_cache_hits_total",
                          "Prompt tokens found in the prefix cache.", *registry_).Add(model_)),
      ttft_(per_class(family(prometheus::BuildHistogram(), "joule_time_to_first_token_seconds",
                             "Time from arrival to the first generated token.", *registry_),
                      model_, kTtftBuckets)),
      tpot_(per_class(family(prometheus::BuildHistogram(), "joule_time_per_output_token_seconds",
                             "Per request: (latency - TTFT) / (output tokens - 1).", *registry_),
                      model_, kTpotBuckets)),
      e2e_(per_class(family(prometheus::BuildHistogram(), "joule_e2e_request_latency_seconds",
                            "Time from arrival to the end of the request.", *registry_),
                     model_, kLatencyBuckets)),
      queue_(per_class(family(prometheus::BuildHistogram(), "joule_request_queue_time_seconds",
                              "Time from arrival to first being scheduled.", *registry_),
                       model_, kLatencyBuckets)),
      governor_duty_(family(prometheus::BuildGauge(), "joule_governor_duty",
                            "Share of time the governor lets steps run (1 = no pacing).", *registry_).Add(model_)),
      admission_open_(per_class(family(prometheus::BuildGauge(), "joule_governor_admission_open",
                                       "1 while the class's waiting requests may start, 0 while the governor pauses "
                                       "it.", *registry_), model_)),
      governor_decisions_(family(prometheus::BuildCounter(), "joule_governor_decisions_total",
                                 "Changes the governor made, by setting (a control, admission:CLASS, duty).",
                                 *registry_)),
      temperature_(family(prometheus::BuildGauge(), "joule_temperature_celsius",
                          "The hottest temperature sensor the governor reads (NaN without one).", *registry_)
                       .Add(model_)) {
  governor_duty_.Set(1);
  for (prometheus::Gauge* g : admission_open_) g->Set(1);
  temperature_.Set(std::numeric_limits<double>::quiet_NaN());
  if (energy_source_.empty()) return;
  prometheus::Labels src = model_;
  src["source"] = energy_source_;
  auto& energy = family(prometheus::BuildCounter(), "joule_energy_joules_total",
                        "Energy measured since start: charged to requests, or idle (no step running).",
                        *registry_);
  prometheus::Labels req = src, idle = src;
  req["account"] = "requests";
  idle["account"] = "idle";
  energy_requests_ = &energy.Add(req);
  energy_idle_ = &energy.Add(idle);
  power_ = &family(prometheus::BuildGauge(), "joule_power_watts", "Power over the last meter interval.",
                   *registry_)
                .Add(src);
  request_energy_ = per_class(family(prometheus::BuildHistogram(), "joule_request_energy_joules",
                                     "Energy charged to each finished request.", *registry_),
                              src, kEnergyBuckets);
}

void ServeMetrics::on_http(const std::string& endpoint, int status) {
  http_requests_.Add({{"endpoint", endpoint}, {"status", std::to_string(status)}}).Increment();
}

void ServeMetrics::on_step(const sched::SchedulerStats& s, int prompt_tokens, int generated_tokens) {
  for (size_t c = 0; c < size_t(sched::kNumPriorities); ++c) {
    running_[c]->Set(s.running_by_class[c]);
    waiting_[c]->Set(s.waiting_by_class[c]);
  }
  kv_usage_.Set(s.kv.usage());
  prompt_tokens_.Increment(prompt_tokens);
  generation_tokens_.Increment(generated_tokens);
  std::lock_guard<std::mutex> lk(mu_);
  for (size_t c = 0; c < size_t(sched::kNumPriorities); ++c) {
    preemptions_[c]->Increment(double(s.preemptions_by_class[c] - last_preemptions_[c]));
    rejected_[c]->Increment(double(s.rejected_by_class[c] - last_rejected_[c]));
  }
  prefix_queries_.Increment(double(s.kv.prefix_query_tokens - last_prefix_queries_));
  prefix_hits_.Increment(double(s.kv.prefix_hit_tokens - last_prefix_hits_));
  last_preemptions_ = s.preemptions_by_class;
  last_rejected_ = s.rejected_by_class;
  last_prefix_queries_ = s.kv.prefix_query_tokens;
  last_prefix_hits_ = s.kv.prefix_hit_tokens;
}

void ServeMetrics::on_finish(const FinishedRequest& f) {
  prometheus::Labels l = model_;
  l["finished_reason"] = std::string(sched::finish_reason_name(f.finish));
  l["priority"] = std::string(sched::priority_name(f.priority));
  request_success_.Add(l).Increment();
  const size_t c = size_t(sched::index_of(f.priority));
  if (f.ttft_s) ttft_[c]->Observe(*f.ttft_s);
  if (f.tpot_s) tpot_[c]->Observe(*f.tpot_s);
  e2e_[c]->Observe(f.e2e_s);
  queue_[c]->Observe(f.queue_s);
  if (request_energy_[c] && f.energy) request_energy_[c]->Observe(f.energy->energy_j);
}

void ServeMetrics::on_governor(const govern::GovernorSample& s, const govern::Throttle& t,
                               const std::vector<govern::Decision>& d) {
  governor_duty_.Set(t.duty);
  for (size_t c = 0; c < size_t(sched::kNumPriorities); ++c) admission_open_[c]->Set(t.admit[c] ? 1 : 0);
  for (const govern::Decision& x : d) governor_decisions_.Add({{"setting", x.setting}}).Increment();
  temperature_.Set(s.temp_c.value_or(std::numeric_limits<double>::quiet_NaN()));
}

std::string ServeMetrics::render(const EngineLoop::EnergyTotals& energy) {
  if (energy_requests_) {
    std::lock_guard<std::mutex> lk(mu_);
    // Counters only go up; the ledger's totals do too, so the differences are >= 0.
    energy_requests_->Increment(std::max(0.0, energy.charged_j - last_energy_requests_j_));
    energy_idle_->Increment(std::max(0.0, energy.idle_j - last_energy_idle_j_));
    last_energy_requests_j_ = std::max(last_energy_requests_j_, energy.charged_j);
    last_energy_idle_j_ = std::max(last_energy_idle_j_, energy.idle_j);
    power_->Set(energy.power_w);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace joule::serve
