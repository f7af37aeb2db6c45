#include "serve/metrics.h"

#include <prometheus/text_serializer.h>

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
      running_(family(prometheus::BuildGauge(), "joule_num_requests_running",
                      "Requests in the running batch.", *registry_).Add(model_)),
      waiting_(family(prometheus::BuildGauge(), "joule_num_requests_waiting",
                      "Requests waiting to be scheduled (the queue is bounded).", *registry_).Add(model_)),
      kv_usage_(family(prometheus::BuildGauge(), "joule_kv_cache_usage_perc",
                       "Fraction of KV-cache blocks held by requests (1 = full).", *registry_).Add(model_)),
      preemptions_(family(prometheus::BuildCounter(), "joule_num_preemptions_total",
                          "Requests preempted for KV-cache blocks (recomputed later).", *registry_).Add(model_)),
      prompt_tokens_(family(prometheus::BuildCounter(), "joule_prompt_tokens_total",
                            "Prompt tokens computed (prefill, recomputation included).", *registry_).Add(model_)),
      generation_tokens_(family(prometheus::BuildCounter(), "joule_generation_tokens_total",
                                "Tokens generated.", *registry_).Add(model_)),
      prefix_queries_(family(prometheus::BuildCounter(), "joule_prefix_cache_queries_total",
                             "Prompt tokens looked up in the prefix cache.", *registry_).Add(model_)),
      prefix_hits_(family(prometheus::BuildCounter(), "joule_prefix_cache_hits_total",
                          "Prompt tokens found in the prefix cache.", *registry_).Add(model_)),
      ttft_(family(prometheus::BuildHistogram(), "joule_time_to_first_token_seconds",
                   "Time from arrival to the first generated token.", *registry_).Add(model_, kTtftBuckets)),
      tpot_(family(prometheus::BuildHistogram(), "joule_time_per_output_token_seconds",
                   "Per request: (latency - TTFT) / (output tokens - 1).", *registry_).Add(model_, kTpotBuckets)),
      e2e_(family(prometheus::BuildHistogram(), "joule_e2e_request_latency_seconds",
                  "Time from arrival to the end of the request.", *registry_).Add(model_, kLatencyBuckets)),
      queue_(family(prometheus::BuildHistogram(), "joule_request_queue_time_seconds",
                    "Time from arrival to first being scheduled.", *registry_).Add(model_, kLatencyBuckets)) {
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
  request_energy_ = &family(prometheus::BuildHistogram(), "joule_request_energy_joules",
                            "Energy charged to each finished request.", *registry_)
                         .Add(src, kEnergyBuckets);
}

void ServeMetrics::on_http(const std::string& endpoint, int status) {
  http_requests_.Add({{"endpoint", endpoint}, {"status", std::to_string(status)}}).Increment();
}

void ServeMetrics::on_step(const sched::SchedulerStats& s, int prompt_tokens, int generated_tokens) {
  running_.Set(s.running);
  waiting_.Set(s.waiting);
  kv_usage_.Set(s.kv.usage());
  prompt_tokens_.Increment(prompt_tokens);
  generation_tokens_.Increment(generated_tokens);
  std::lock_guard<std::mutex> lk(mu_);
  preemptions_.Increment(double(s.preemptions - last_preemptions_));
  prefix_queries_.Increment(double(s.kv.prefix_query_tokens - last_prefix_queries_));
  prefix_hits_.Increment(double(s.kv.prefix_hit_tokens - last_prefix_hits_));
  last_preemptions_ = s.preemptions;
  last_prefix_queries_ = s.kv.prefix_query_tokens;
  last_prefix_hits_ = s.kv.prefix_hit_tokens;
}

void ServeMetrics::on_finish(const FinishedRequest& f) {
  prometheus::Labels l = model_;
  l["finished_reason"] = std::string(sched::finish_reason_name(f.finish));
  request_success_.Add(l).Increment();
  if (f.ttft_s) ttft_.Observe(*f.ttft_s);
  if (f.tpot_s) tpot_.Observe(*f.tpot_s);
  e2e_.Observe(f.e2e_s);
  queue_.Observe(f.queue_s);
  if (request_energy_ && f.energy) request_energy_->Observe(f.energy->energy_j);
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
