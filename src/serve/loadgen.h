// joule loadgen: a streaming OpenAI-API client that loads a server (joule serve, llama-server,
// vLLM, ...) and reports what `vllm bench serve` reports: request and token throughput, TTFT,
// TPOT = (latency - TTFT) / (output tokens - 1), inter-token latency and end-to-end latency
// percentiles, goodput under SLOs, errors by status, and the energy the server's answers carry.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "sched/request.h"

namespace joule::serve {

struct LoadgenConfig {
  std::string url = "http://127.0.0.1:8080/v1";  // the API base, as the OpenAI client's base_url
  std::string model;                             // the served model (remote::Client finds it)
  std::string api_key;
  bool chat = true;             // /chat/completions, else /completions
  int concurrency = 1;          // closed loop: this many requests in flight at all times
  double rate = 0;              // > 0: open loop, Poisson arrivals at this many requests/s
  int max_inflight = 256;       // open loop: arrivals beyond this many in flight wait
  int requests = 0;             // stop after this many (0: by duration)
  double duration_s = 0;        // stop sending after this long (0: by requests)
  int max_tokens = 64;
  double temperature = 0;
  std::vector<std::string> prompts;  // used in turn
  uint64_t seed = 1;            // arrivals
  std::optional<double> goodput_ttft_ms;
  std::optional<double> goodput_tpot_ms;
  double timeout_s = 600;       // per request
  // Shares of urgent, normal and low requests (joule's `priority` field, drawn per request from
  // `seed`); nullopt sends no priority.
  std::optional<std::array<double, sched::kNumPriorities>> mix;
};

// The class of request `index` under c.mix (nullopt without a mix): the same for a given seed.
std::optional<sched::Priority> class_of(const LoadgenConfig& c, int index);

// One request as the client saw it.
struct RequestRecord {
  int status = 0;  // HTTP status; 0 when the connection failed
  std::string error;
  double start_s = 0;  // since the run's start
  std::optional<double> ttft_s;
  double latency_s = 0;
  std::vector<double> itl_s;  // between consecutive content chunks
  int prompt_tokens = 0;
  int output_tokens = 0;  // from usage; else the content chunks counted
  std::optional<double> energy_j;
  std::string energy_source;
  std::optional<sched::Priority> priority;  // as sent
  bool retry_after = false;  // the answer had a Retry-After header (429s should)
};

struct LoadgenSummary {
  int completed = 0;
  int failed = 0;
  std::map<std::string, int> errors;  // "429", "connection", ...
  int rejected_without_retry_after = 0;  // 429s that did not say when to retry
  double duration_s = 0;
  double request_throughput = 0;  // completed / s
  double output_throughput = 0;   // output tokens / s
  double total_token_throughput = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  struct Dist {
    double mean = 0, median = 0, p90 = 0, p99 = 0;
  };
  Dist ttft_ms, tpot_ms, itl_ms, e2el_ms;
  std::optional<double> goodput;  // requests/s meeting every SLO given
  // From the answers' usage.energy (joule serve); absent when no answer carried any.
  std::optional<double> energy_j;
  std::optional<double> j_per_request;
  std::optional<double> j_per_output_token;
  std::string energy_source;  // "estimated", ... ("mixed" if answers disagree)
  // With a mix: the same figures for each class's requests (throughputs over the whole run).
  std::vector<std::pair<std::string, LoadgenSummary>> by_priority;
};

// Runs the load; kInvalidArgument for a bad URL or configuration. Progress lines go to stderr
// every 5 s when `progress`.
Expected<std::vector<RequestRecord>> run_load(const LoadgenConfig& c, bool progress);

LoadgenSummary summarize(const std::vector<RequestRecord>& records, const LoadgenConfig& c, double duration_s);
nlohmann::json summary_json(const LoadgenSummary& s);
std::string summary_text(const LoadgenSummary& s);

}  // namespace joule::serve
