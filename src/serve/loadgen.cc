#include "serve/loadgen.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "core/clock.h"
#include "core/strings.h"
#include "metrics/stats.h"
#include "remote/client.h"

namespace joule::serve {
namespace {

using nlohmann::json;

struct Target {
  std::string origin;  // scheme://host:port
  std::string base;    // path prefix, e.g. "/v1"
};

httplib::Headers auth_headers(const LoadgenConfig& c) {
  httplib::Headers h;
  if (!c.api_key.empty()) h.emplace("Authorization", "Bearer " + c.api_key);
  return h;
}

// One streaming request; SSE lines parsed as they arrive.
RequestRecord one_request(const LoadgenConfig& c, const Target& t, const std::string& prompt, int index,
                          double run_t0_s) {
  RequestRecord rec;
  rec.priority = class_of(c, index);
  json body = {{"model", c.model},
               {"max_tokens", c.max_tokens},
               {"temperature", c.temperature},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (rec.priority) body["priority"] = sched::priority_name(*rec.priority);
  if (c.chat) body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  else body["prompt"] = prompt;

  httplib::Client cli(t.origin);
  cli.set_read_timeout(std::chrono::duration<double>(c.timeout_s));
  cli.set_write_timeout(std::chrono::duration<double>(c.timeout_s));
  cli.set_connection_timeout(std::chrono::seconds(10));
  httplib::Request req;
  req.method = "POST";
  req.path = t.base + (c.chat ? "/chat/completions" : "/completions");
  req.headers = auth_headers(c);
  req.headers.emplace("Accept", "text/event-stream");
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");

  const double t0 = monotonic_seconds();
  rec.start_s = t0 - run_t0_s;
  double last_chunk_s = 0;
  int content_chunks = 0;
  std::string pending, error_body;
  bool ok_status = true;
  req.response_handler = [&](const httplib::Response& r) {
    ok_status = r.status == 200;
    rec.retry_after = r.has_header("Retry-After");
    return true;
  };
  req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
    if (!ok_status) {
      error_body.append(data, len);
      return error_body.size() < (1 << 20);
    }
    pending.append(data, len);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.rfind("data: ", 0) != 0) continue;
      const std::string payload = line.substr(6);
      if (payload == "[DONE]") continue;
      const json j = json::parse(payload, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("error")) {
        rec.error = j["error"].value("message", "error in the stream");
        continue;
      }
      if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        rec.prompt_tokens = u->value("prompt_tokens", 0);
        rec.output_tokens = u->value("completion_tokens", 0);
        if (auto e = u->find("energy"); e != u->end() && e->is_object() && (*e)["energy_j"].is_number()) {
          rec.energy_j = (*e)["energy_j"].get<double>();
          rec.energy_source = e->value("source", "");
        }
      }
      const json& choices = j.value("choices", json::array());
      if (choices.empty()) continue;
      const json& ch = choices[0];
      std::string text;
      if (c.chat) {
        if (ch.contains("delta") && ch["delta"].contains("content") && ch["delta"]["content"].is_string())
          text = ch["delta"]["content"].get<std::string>();
      } else if (ch.contains("text") && ch["text"].is_string()) {
        text = ch["text"].get<std::string>();
      }
      if (text.empty()) continue;
      const double now = monotonic_seconds();
      if (!rec.ttft_s) rec.ttft_s = now - t0;
      else rec.itl_s.push_back(now - last_chunk_s);
      last_chunk_s = now;
      ++content_chunks;
    }
    return true;
  };
  httplib::Result res = cli.send(req);
  rec.latency_s = monotonic_seconds() - t0;
  if (!res) {
    rec.status = 0;
    rec.error = "connection: " + httplib::to_string(res.error());
    return rec;
  }
  rec.status = res->status;
  if (rec.status != 200) {
    const json e = json::parse(error_body, nullptr, false);
    rec.error = !e.is_discarded() && e.contains("error") && e["error"].is_object()
                    ? e["error"].value("message", error_body)
                    : error_body.substr(0, 200);
  }
  if (rec.output_tokens == 0) rec.output_tokens = content_chunks;  // a server without usage
  return rec;
}

}  // namespace

std::optional<sched::Priority> class_of(const LoadgenConfig& c, int index) {
  if (!c.mix) return std::nullopt;
  // splitmix64 of (seed, index): a uniform draw per request, independent of timing and threads.
  uint64_t z = c.seed * 0x9e3779b97f4a7c15ULL + uint64_t(index) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  const std::array<double, sched::kNumPriorities>& w = *c.mix;
  double u = double(z >> 11) * 0x1.0p-53 * (w[0] + w[1] + w[2]);
  for (int i = 0; i < sched::kNumPriorities - 1; ++i) {
    if (u < w[size_t(i)]) return sched::Priority(i);
    u -= w[size_t(i)];
  }
  return sched::Priority::kLow;
}

namespace {

LoadgenSummary::Dist dist_ms(const std::vector<double>& s) {
  std::vector<double> ms;
  ms.reserve(s.size());
  for (double v : s) ms.push_back(v * 1e3);
  return {metrics::mean(ms), metrics::percentile(ms, 50), metrics::percentile(ms, 90), metrics::percentile(ms, 99)};
}

json dist_json(const LoadgenSummary::Dist& d) {
  return {{"mean", d.mean}, {"median", d.median}, {"p90", d.p90}, {"p99", d.p99}};
}

}  // namespace


Expected<std::vector<RequestRecord>> run_load(const LoadgenConfig& c, bool progress) {
  JOULE_ASSIGN_OR_RETURN(auto parts, remote::split_url(c.url));
  if (c.prompts.empty()) return InvalidArgument("no prompts");
  if (c.requests <= 0 && c.duration_s <= 0) return InvalidArgument("give --requests N or --duration S");
  if (c.rate <= 0 && c.concurrency < 1) return InvalidArgument("--concurrency must be at least 1");
  const Target target{parts.first, parts.second};

  std::mutex mu;
  std::condition_variable cv;
  std::vector<RequestRecord> records;
  int issued = 0, inflight = 0;
  const double t0 = monotonic_seconds();
  auto more = [&] {  // under mu
    if (c.requests > 0 && issued >= c.requests) return false;
    if (c.duration_s > 0 && monotonic_seconds() - t0 >= c.duration_s) return false;
    return true;
  };
  auto report = [&](double last_s) {
    const double now = monotonic_seconds() - t0;
    if (!progress || now - last_s < 5) return last_s;
    std::fprintf(stderr, "[joule loadgen] %.0f s: %zu done, %d in flight\n", now, records.size(), inflight);
    return now;
  };
  auto run_one = [&](int index) {
    RequestRecord r = one_request(c, target, c.prompts[size_t(index) % c.prompts.size()], index, t0);
    std::lock_guard<std::mutex> lk(mu);
    records.push_back(std::move(r));
    --inflight;
    cv.notify_all();
  };

  std::vector<std::thread> threads;
  double last_report = 0;
  if (c.rate > 0) {
    // Open loop: Poisson arrivals (exponential gaps), in flight bounded by max_inflight (arrivals
    // wait beyond it, as a client pool would). Each arrival is handed to an idle sender thread;
    // a new one starts only when all are busy, so there are never more threads than the most
    // requests ever in flight, however long the run.
    std::mt19937_64 rng(c.seed);
    std::exponential_distribution<double> gap(c.rate);
    std::deque<int> arrivals;
    int idle_senders = 0;
    bool done = false;
    auto sender = [&] {
      std::unique_lock<std::mutex> lk(mu);
      for (;;) {
        ++idle_senders;
        cv.wait(lk, [&] { return done || !arrivals.empty(); });
        --idle_senders;
        if (arrivals.empty()) return;  // done
        const int index = arrivals.front();
        arrivals.pop_front();
        lk.unlock();
        run_one(index);
        lk.lock();
      }
    };
    double next_s = 0;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu);
      if (!more()) break;
      const double wait_s = next_s - (monotonic_seconds() - t0);
      if (wait_s > 0) {
        cv.wait_for(lk, std::chrono::duration<double>(std::min(wait_s, 1.0)));
        last_report = report(last_report);
        continue;
      }
      cv.wait(lk, [&] { return inflight < c.max_inflight; });
      arrivals.push_back(issued++);
      ++inflight;
      next_s += gap(rng);
      if (idle_senders < int(arrivals.size())) threads.emplace_back(sender);
      cv.notify_all();
    }
    {
      std::lock_guard<std::mutex> lk(mu);
      done = true;
    }
    cv.notify_all();
  } else {
    // Closed loop: each worker sends its next request when the last one ends.
    for (int w = 0; w < c.concurrency; ++w)
      threads.emplace_back([&] {
        for (;;) {
          int index;
          {
            std::lock_guard<std::mutex> lk(mu);
            if (!more()) return;
            index = issued++;
            ++inflight;
          }
          run_one(index);
        }
      });
    std::unique_lock<std::mutex> lk(mu);
    while (inflight > 0 || more()) {
      cv.wait_for(lk, std::chrono::seconds(1));
      last_report = report(last_report);
      if (!more() && inflight == 0) break;
    }
  }
  for (std::thread& t : threads) t.join();
  return records;
}

LoadgenSummary summarize(const std::vector<RequestRecord>& records, const LoadgenConfig& c, double duration_s) {
  LoadgenSummary s;
  if (c.mix) {
    for (int i = 0; i < sched::kNumPriorities; ++i) {
      std::vector<RequestRecord> of_class;
      for (const RequestRecord& r : records)
        if (r.priority == sched::Priority(i)) of_class.push_back(r);
      LoadgenConfig one = c;
      one.mix.reset();
      s.by_priority.emplace_back(sched::priority_name(sched::Priority(i)), summarize(of_class, one, duration_s));
    }
  }
  s.duration_s = duration_s;
  std::vector<double> ttft, tpot, itl, e2el;
  int good = 0;
  double energy_j = 0;
  int with_energy = 0;
  for (const RequestRecord& r : records) {
    if (r.status != 200 || !r.error.empty()) {
      ++s.failed;
      ++s.errors[r.status == 0 ? "connection" : r.status == 200 ? "stream error" : std::to_string(r.status)];
      if (r.status == 429 && !r.retry_after) ++s.rejected_without_retry_after;
      continue;
    }
    ++s.completed;
    s.prompt_tokens += r.prompt_tokens;
    s.output_tokens += r.output_tokens;
    e2el.push_back(r.latency_s);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    std::optional<double> tp;
    if (r.ttft_s) ttft.push_back(*r.ttft_s);
    if (r.ttft_s && r.output_tokens > 1) {
      tp = (r.latency_s - *r.ttft_s) / (r.output_tokens - 1);
      tpot.push_back(*tp);
    }
    const bool ttft_ok = !c.goodput_ttft_ms || (r.ttft_s && *r.ttft_s * 1e3 <= *c.goodput_ttft_ms);
    const bool tpot_ok = !c.goodput_tpot_ms || !tp || *tp * 1e3 <= *c.goodput_tpot_ms;
    good += ttft_ok && tpot_ok ? 1 : 0;
    if (r.energy_j) {
      energy_j += *r.energy_j;
      ++with_energy;
      if (s.energy_source.empty()) s.energy_source = r.energy_source;
      else if (s.energy_source != r.energy_source) s.energy_source = "mixed";
    }
  }
  if (duration_s > 0) {
    s.request_throughput = s.completed / duration_s;
    s.output_throughput = double(s.output_tokens) / duration_s;
    s.total_token_throughput = double(s.output_tokens + s.prompt_tokens) / duration_s;
    if (c.goodput_ttft_ms || c.goodput_tpot_ms) s.goodput = good / duration_s;
  }
  s.ttft_ms = dist_ms(ttft);
  s.tpot_ms = dist_ms(tpot);
  s.itl_ms = dist_ms(itl);
  s.e2el_ms = dist_ms(e2el);
  // Energy only when every completed answer carried it: a partial sum would be a wrong total.
  if (with_energy > 0 && with_energy == s.completed) {
    s.energy_j = energy_j;
    s.j_per_request = energy_j / s.completed;
    if (s.output_tokens > 0) s.j_per_output_token = energy_j / double(s.output_tokens);
  }
  return s;
}

json summary_json(const LoadgenSummary& s) {
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json by_priority = json::object();
  for (const auto& [name, sub] : s.by_priority) by_priority[name] = summary_json(sub);
  return {{"completed", s.completed},
          {"failed", s.failed},
          {"errors", s.errors},
          {"rejected_without_retry_after", s.rejected_without_retry_after},
          {"duration_s", s.duration_s},
          {"request_throughput", s.request_throughput},
          {"output_throughput", s.output_throughput},
          {"total_token_throughput", s.total_token_throughput},
          {"prompt_tokens", s.prompt_tokens},
          {"output_tokens", s.output_tokens},
          {"ttft_ms", dist_json(s.ttft_ms)},
          {"tpot_ms", dist_json(s.tpot_ms)},
          {"itl_ms", dist_json(s.itl_ms)},
          {"e2el_ms", dist_json(s.e2el_ms)},
          {"goodput", opt(s.goodput)},
          {"energy_j", opt(s.energy_j)},
          {"j_per_request", opt(s.j_per_request)},
          {"j_per_output_token", opt(s.j_per_output_token)},
          {"energy_source", s.energy_source.empty() ? json(nullptr) : json(s.energy_source)},
          {"by_priority", s.by_priority.empty() ? json(nullptr) : by_priority}};
}

std::string summary_text(const LoadgenSummary& s) {
  std::string out;
  char buf[256];
  auto line = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    out += buf;
  };
  line("%-32s %d\n", "completed requests", s.completed);
  line("%-32s %d", "failed requests", s.failed);
  for (const auto& [k, n] : s.errors) line("  %s: %d", k.c_str(), n);
  out += "\n";
  line("%-32s %.2f\n", "duration (s)", s.duration_s);
  line("%-32s %.3f\n", "request throughput (req/s)", s.request_throughput);
  line("%-32s %.2f\n", "output token throughput (tok/s)", s.output_throughput);
  line("%-32s %.2f\n", "total token throughput (tok/s)", s.total_token_throughput);
  if (s.goodput) line("%-32s %.3f\n", "goodput (req/s)", *s.goodput);
  line("%-10s %10s %10s %10s %10s\n", "ms", "mean", "median", "p90", "p99");
  const std::pair<const char*, const LoadgenSummary::Dist*> rows[] = {
      {"TTFT", &s.ttft_ms}, {"TPOT", &s.tpot_ms}, {"ITL", &s.itl_ms}, {"E2EL", &s.e2el_ms}};
  for (const auto& [name, d] : rows) line("%-10s %10.1f %10.1f %10.1f %10.1f\n", name, d->mean, d->median, d->p90, d->p99);
  if (s.energy_j) {
    line("%-32s %.2f (%s, from the server's answers)\n", "energy (J)", *s.energy_j, s.energy_source.c_str());
    line("%-32s %.3f\n", "J per request", *s.j_per_request);
    if (s.j_per_output_token) line("%-32s %.4f\n", "J per output token", *s.j_per_output_token);
  } else {
    out += "energy: the server's answers carry none (only joule serve reports it per request)\n";
  }
  if (s.by_priority.empty()) return out;
  line("\n%-8s %9s %7s %7s %9s %9s %9s %9s %9s %9s %9s\n", "priority", "completed", "failed", "429", "TTFT p50",
       "TTFT p99", "TPOT p50", "TPOT p99", "E2EL p50", "E2EL p99", "J/request");
  for (const auto& [name, c] : s.by_priority) {
    const auto r429 = c.errors.find("429");
    line("%-8s %9d %7d %7d %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9s\n", name.c_str(), c.completed, c.failed,
         r429 == c.errors.end() ? 0 : r429->second, c.ttft_ms.median, c.ttft_ms.p99, c.tpot_ms.median, c.tpot_ms.p99,
         c.e2el_ms.median, c.e2el_ms.p99, c.j_per_request ? format_number("%.3f", *c.j_per_request).c_str() : "-");
  }
  return out;
}

}  // namespace joule::serve
