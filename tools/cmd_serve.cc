// joule serve: the OpenAI-compatible server (src/serve) around one model, with the energy of every
// request. This file only wires flags, the model, the meter, the log and the signals.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <thread>

#include "common.h"
#include "energy_cli.h"
#include "core/clock.h"
#include "core/thread_pool.h"
#include "sched/scheduler.h"
#include "core/strings.h"
#include "govern/controls.h"
#include "govern/governor.h"
#include "govern/thermal.h"
#include "serve/batch_engine.h"
#include "serve/engine_loop.h"
#include "serve/http_server.h"
#include "serve/metrics.h"

namespace joule::cli {
namespace {

struct ServeOptions {
  ModelOptions model;
  std::string alias;  // the model's name in the API
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 1;
  sched::SchedulerConfig sched;
  std::string max_waiting = "64";
  std::string scheduler = "priority";
  double reserve_urgent = 0.2;
  double max_wait_s = 30;
  std::string governor = "on";
  double power_cap_w = 0;
  double max_temp_c = 0;
  double temp_margin_c = 5;
  double slo_tpot_ms = 0;
  double slo_ttft_ms = 0;
  double governor_interval_s = 1;
  std::string cpufreq_governor;  // set at start, restored on exit
  int kv_cache_mib = 0;
  int kv_cache_tokens = 0;
  int block_tokens = 16;
  std::vector<std::string> api_keys;
  std::string json_log;
  std::string chat_template;
  double drain_timeout_s = 30;
  size_t max_body_mib = 4;
  int timeout_s = 600;
  EnergyOptions energy;
};

constexpr int kDefaultKvMib = 512;

std::string fixed1(double j) {  // "9.6 J"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f J", j);
  return buf;
}

// One JSON line per finished request; written by the engine thread only.
class JsonLog {
 public:
  Status open(const std::string& path) {
    if (path.empty()) return Status::Ok();
    out_.open(path, std::ios::app);
    if (!out_) return IoError("cannot open the log file " + path);
    return Status::Ok();
  }
  void write(const serve::FinishedRequest& f) {
    if (!out_.is_open()) return;
    out_ << serve::finished_json(f).dump() << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// --max-waiting: one number for every class, or "urgent:N,normal:N,low:N" (classes left out keep
// the default).
Status parse_max_waiting(const std::string& text, sched::SchedulerConfig* c) {
  int all = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), all).ptr == text.data() + text.size() && !text.empty()) {
    c->max_waiting.fill(all);
    return Status::Ok();
  }
  JOULE_ASSIGN_OR_RETURN(const sched::PerClassValues v, sched::parse_per_class(text, "--max-waiting"));
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] && (*v[i] != std::floor(*v[i]) || *v[i] < 1 || *v[i] > 1e6))
      return InvalidArgument("--max-waiting: each class's queue holds 1 to 1000000 requests");
    if (v[i]) c->max_waiting[i] = int(*v[i]);
  }
  return Status::Ok();
}

// --api-key KEY or KEY:CLASS (requests with KEY are served at most as CLASS).
std::vector<serve::ApiKey> parse_api_keys(const std::vector<std::string>& given) {
  std::vector<serve::ApiKey> keys;
  for (const std::string& g : given) {
    const size_t colon = g.rfind(':');
    const auto cls = colon == std::string::npos ? std::nullopt : sched::parse_priority(g.substr(colon + 1));
    keys.push_back(cls ? serve::ApiKey{g.substr(0, colon), *cls} : serve::ApiKey{g, sched::Priority::kUrgent});
  }
  return keys;
}

// The governor's configuration, or nullopt when there is nothing to govern.
Expected<std::optional<govern::GovernorConfig>> governor_config(const ServeOptions& o) {
  const bool slo = o.slo_tpot_ms > 0 || o.slo_ttft_ms > 0;
  if (o.governor == "off") {
    if (o.power_cap_w > 0 || o.max_temp_c > 0 || slo)
      return InvalidArgument("--governor off serves with no control: drop --power-cap-w, --max-temp-c and the SLOs");
    return std::optional<govern::GovernorConfig>();
  }
  if (o.governor == "energy" && !slo)
    return InvalidArgument("--governor energy needs a latency target to meet: --slo-tpot-ms and/or --slo-ttft-ms");
  if (o.governor != "energy" && slo)
    return InvalidArgument("--slo-tpot-ms / --slo-ttft-ms are the targets of --governor energy; give it");
  if (o.power_cap_w > 0 && o.energy.off)
    return InvalidArgument("--power-cap-w holds the measured power under the cap: it needs the meter (drop --no-energy)");
  if (o.power_cap_w <= 0 && o.max_temp_c <= 0 && o.governor != "energy") return std::optional<govern::GovernorConfig>();
  govern::GovernorConfig c;
  if (o.power_cap_w > 0) c.power_cap_w = o.power_cap_w;
  if (o.max_temp_c > 0) c.max_temp_c = o.max_temp_c;
  c.temp_margin_c = o.temp_margin_c;
  c.energy_policy = o.governor == "energy";
  if (o.slo_tpot_ms > 0) c.slo_tpot_ms = o.slo_tpot_ms;
  if (o.slo_ttft_ms > 0) c.slo_ttft_ms = o.slo_ttft_ms;
  return std::optional<govern::GovernorConfig>(c);
}

// The devices found, at start: what the governor can turn on each and why anything is missing.
void print_devices(const govern::Devices& devices) {
  bool any_writable = false;
  for (const govern::Device& d : devices.devices) {
    std::fprintf(stderr, "[joule] device %s: %s; computes: %s\n", d.name.c_str(), d.description.c_str(), d.backend.c_str());
    for (const govern::Control* c : d.controls) {
      const govern::ControlInfo& i = c->info();
      any_writable = any_writable || i.writable;
      std::fprintf(stderr, "[joule]   control %s (%s): %g %s, range %g-%g%s%s\n", i.name.c_str(),
                   govern::kind_name(i.kind), i.original, i.unit.c_str(), i.min, i.max,
                   i.writable ? "" : "; not writable: ", i.why_not.c_str());
    }
  }
  for (const std::string& m : devices.missing) std::fprintf(stderr, "[joule] missing: %s\n", m.c_str());
  if (!any_writable)
    std::fprintf(stderr, "[joule] governor: no device control joule may change here; it holds power and temperature "
                 "by admission control and pacing alone\n");
}

std::unique_ptr<sched::SchedulingPolicy> make_policy(const ServeOptions& o) {
  if (o.scheduler == "fcfs") return std::make_unique<sched::FcfsPolicy>();
  return std::make_unique<sched::PriorityPolicy>(o.reserve_urgent, o.max_wait_s);
}

int serve_main(ServeOptions o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  if (Status s = parse_max_waiting(o.max_waiting, &o.sched); !s.ok()) return report_error(s);
  if (Status s = sched::validate(o.sched); !s.ok()) return report_error(s);
  auto gov_config = governor_config(o);
  if (!gov_config.ok()) return report_error(gov_config.status());
  if (o.kv_cache_mib > 0 && o.kv_cache_tokens > 0)
    return report_error(InvalidArgument("give --kv-cache-mib or --kv-cache-tokens, not both"));
  if (o.block_tokens < 1 || o.block_tokens > 256) return report_error(InvalidArgument("--block-tokens must be 1-256"));
  // A server's idle time is measured as it happens (the idle account), and a request's energy is
  // its share of what the meter measured, so a baseline taken before serving would be unused.
  if (o.energy.idle_baseline_s > 0)
    return report_error(InvalidArgument("--idle-baseline is not used by joule serve: idle time is measured while "
                                        "serving (joule_energy_joules_total{account=\"idle\"}); docs/serving.md"));
  // Signals are taken by a thread of their own (sigwait); every thread started from here on
  // inherits the mask, so none is interrupted.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto lm = load_model(o.model);
  if (!lm.ok()) return report_error(lm.status());
  const Model& model = *lm->model;
  const Tokenizer& tok = *lm->tokenizer;
  const ModelConfig& mc = model.config();
  auto tmpl = resolve_chat_template(model, o.chat_template);
  if (!tmpl.ok()) return report_error(tmpl.status());

  // The KV pool: whole blocks, sized once; requests wait for blocks rather than grow it.
  const size_t bytes_per_token = size_t(mc.n_layers) * size_t(mc.kv_dim()) * 2 * sizeof(uint16_t);
  int64_t kv_tokens = o.kv_cache_tokens;
  if (kv_tokens == 0) {
    const int64_t mib = o.kv_cache_mib > 0 ? o.kv_cache_mib : kDefaultKvMib;
    kv_tokens = mib * (int64_t{1} << 20) / int64_t(bytes_per_token);
    // Without a size given, no more than every sequence at full context.
    if (o.kv_cache_mib == 0) kv_tokens = std::min<int64_t>(kv_tokens, int64_t(o.sched.max_sequences) * mc.ctx_train);
  }
  const int n_blocks = int(std::min<int64_t>(kv_tokens / o.block_tokens, 1 << 24));
  if (n_blocks < 1) return report_error(InvalidArgument("the KV cache holds less than one block; give it more"));

  sched::KvBlockPool pool(n_blocks, o.block_tokens);
  const std::unique_ptr<sched::SchedulingPolicy> policy = make_policy(o);
  sched::Scheduler scheduler(o.sched, pool, *policy);
  ThreadPool threads(o.threads);
  const cpu::KernelSet& ks = cpu::best_kernels();
  serve::BatchEngine engine(model, tok, scheduler, threads, ks);

  auto energy = EnergySession::start(o.energy);
  if (!energy.ok()) return report_error(energy.status());
  const std::string model_id =
      o.alias.empty() ? std::filesystem::path(lm->path).filename().replace_extension().string() : o.alias;
  JsonLog log;
  if (Status s = log.open(o.json_log); !s.ok()) return report_error(s);

  std::unique_ptr<serve::ServeMetrics> metrics;
  serve::LoopHooks hooks{
      .on_step = [&](const sched::SchedulerStats& s, int prompt, int gen) { metrics->on_step(s, prompt, gen); },
      .on_finish =
          [&](const serve::FinishedRequest& f) {
            metrics->on_finish(f);
            log.write(f);
          }};
  const int max_waiting = std::accumulate(o.sched.max_waiting.begin(), o.sched.max_waiting.end(), 0);
  serve::EngineLoop loop(engine, (*energy)->meter(), hooks, size_t(max_waiting));
  metrics = std::make_unique<serve::ServeMetrics>(model_id, loop.energy_on() ? loop.energy_source() : "");

  // The governor: device controls first, then admission and pacing (src/govern).
  govern::Devices devices;
  std::unique_ptr<govern::Governor> governor;
  const double t_start_s = monotonic_seconds();
  if (*gov_config || !o.cpufreq_governor.empty())
    devices = local_devices((*energy)->on() ? (*energy)->meter()->domains() : std::vector<energy::DomainInfo>{},
                            (*energy)->nvml());
  // Early returns below leave the devices as found too (restoring twice is a no-op).
  struct RestoreOnReturn {
    govern::Controls& c;
    ~RestoreOnReturn() { (void)c.restore_all(); }
  } restore_on_return{devices.controls};
  if (!o.cpufreq_governor.empty()) {
    if (!devices.controls.cpufreq_governor)
      return report_error(NotFound("--cpufreq-governor: no cpufreq here (" +
                                   (devices.controls.missing.empty() ? std::string() : devices.controls.missing[0]) + ")"));
    if (Status st = devices.controls.cpufreq_governor->set(o.cpufreq_governor); !st.ok()) return report_error(st);
    std::fprintf(stderr, "[joule] cpufreq governor %s (was %s; restored on exit)\n", o.cpufreq_governor.c_str(),
                 devices.controls.cpufreq_governor->original().c_str());
  }
  govern::ThermalSensors& thermal = devices.thermal;
  if (*gov_config) {
    governor = std::make_unique<govern::Governor>(**gov_config, devices.actuators());
    if ((*gov_config)->max_temp_c && thermal.empty() && !(*energy)->nvml())
      return report_error(NotFound("--max-temp-c: no temperature sensor here (" +
                                   (thermal.missing().empty() ? std::string() : thermal.missing()[0]) + ")"));
    loop.set_governor(serve::LoopGovernor{
        .governor = governor.get(),
        .interval_s = o.governor_interval_s,
        .temperature_c = [&thermal]() -> std::optional<double> {
          std::optional<double> hottest;
          for (const govern::Temperature& t : thermal.read()) hottest = std::max(hottest.value_or(t.celsius), t.celsius);
          return hottest;
        },
        .on_update =
            [&](const govern::GovernorSample& s, const govern::Throttle& t, const std::vector<govern::Decision>& d) {
              metrics->on_governor(s, t, d);
              for (const govern::Decision& x : d)
                std::fprintf(stderr, "[joule] governor %.1f s: %s %s -> %s (%s)\n", x.t_s - t_start_s, x.setting.c_str(),
                             x.from.c_str(), x.to.c_str(), x.reason.c_str());
            }});
  }

  serve::HttpConfig hc;
  hc.host = o.host;
  hc.port = o.port;
  hc.api_keys = parse_api_keys(o.api_keys);
  hc.model_id = model_id;
  // A request never needs more than the pool (the scheduler would refuse it outright), so the
  // server's context is the smaller of the model's and the pool's: a request without max_tokens
  // gets the rest of it.
  const int context_tokens = std::min(mc.ctx_train, n_blocks * o.block_tokens);
  hc.context_tokens = context_tokens;
  hc.max_body_bytes = o.max_body_mib << 20;
  hc.read_timeout_s = hc.write_timeout_s = o.timeout_s;
  // Every running or waiting request holds a connection thread, plus a few for /health, /metrics.
  hc.threads = o.sched.max_sequences + max_waiting + 8;
  serve::HttpServer http(hc, loop, tok, *tmpl, *metrics);
  if (Status s = http.bind(); !s.ok()) return report_error(s);
  loop.start();

  std::fprintf(stderr,
               "[joule] serving %s (%s, precision %s) at http://%s:%d/v1\n"
               "[joule] %d threads, %s kernels | up to %d sequences, %d tokens per step | KV cache "
               "%d blocks x %d tokens = %d tokens, %.0f MiB | context %d\n",
               model_id.c_str(), lm->path.c_str(), lm->precision.c_str(), o.host.c_str(), http.port(), o.threads,
               ks.isa, o.sched.max_sequences, o.sched.max_batch_tokens, n_blocks,
               o.block_tokens, n_blocks * o.block_tokens, double(n_blocks) * o.block_tokens * bytes_per_token / (1 << 20),
               context_tokens);
  const sched::UnreservedCapacity& u = scheduler.unreserved();
  if (o.scheduler == "fcfs")
    std::fprintf(stderr, "[joule] scheduler fcfs (priority ignored) | waiting at most %d\n", max_waiting);
  else
    std::fprintf(stderr, "[joule] scheduler priority: urgent, normal, low; %.0f %% reserved for urgent (normal and low "
                 "hold at most %d sequences, %d tokens per step, %d KV blocks); low served as normal after %.0f s | "
                 "waiting at most %d urgent, %d normal, %d low\n",
                 o.reserve_urgent * 100, u.sequences, u.step_tokens, u.kv_blocks, o.max_wait_s, o.sched.max_waiting[0],
                 o.sched.max_waiting[1], o.sched.max_waiting[2]);
  if (context_tokens < mc.ctx_train)
    std::fprintf(stderr, "[joule] the KV cache holds fewer tokens than the model's context (%d): a request's prompt and "
                 "max_tokens are limited to %d; give --kv-cache-mib for more\n", mc.ctx_train, context_tokens);
  if (governor) {
    const govern::GovernorConfig& g = governor->config();
    std::fprintf(stderr, "[joule] governor %s: power cap %s, max temperature %s, every %.1f s\n", o.governor.c_str(),
                 g.power_cap_w ? format_number("%g W", *g.power_cap_w).c_str() : "none",
                 g.max_temp_c ? format_number("%g C", *g.max_temp_c).c_str() : "none", o.governor_interval_s);
    print_devices(devices);
    for (const govern::Decision& x : governor->take_decisions())
      std::fprintf(stderr, "[joule] governor: %s %s\n", x.setting.c_str(), x.reason.c_str());
  } else {
    std::fprintf(stderr, "[joule] governor %s\n", o.governor == "off" ? "off" : "idle (no --power-cap-w, --max-temp-c or --governor energy)");
  }
  if ((*energy)->on())
    std::fprintf(stderr, "%s\n[joule] request energy: %s over %s (docs/serving.md: how a step's energy is divided)\n",
                 (*energy)->sources_text().c_str(), loop.energy_source().c_str(),
                 nlohmann::json(loop.ledger().domain_names()).dump().c_str());
  else
    std::fprintf(stderr, "[joule] energy off (--no-energy): answers carry no energy\n");

  // SIGINT/SIGTERM: refuse new work (503), let running requests finish up to --drain-timeout,
  // then stop. A second signal stops at once. One thread does all of it, so the loop is stopped
  // exactly once.
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::fprintf(stderr, "[joule] %s: draining (%d requests live, up to %.0f s; a second signal stops now)\n",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", loop.live(), o.drain_timeout_s);
    http.begin_drain();
    const double deadline_s = monotonic_seconds() + o.drain_timeout_s;
    const timespec poll_interval{0, 0};
    bool again = false;
    while (!loop.wait_idle(0.1) && monotonic_seconds() < deadline_s)
      if (sigtimedwait(&stop_signals, nullptr, &poll_interval) > 0) {
        again = true;
        break;
      }
    if (loop.live() > 0)
      std::fprintf(stderr, "[joule] %s: cancelling %d requests\n", again ? "second signal" : "drain timeout",
                   loop.live());
    loop.stop();
    http.stop();
  });
  http.serve();
  signals.join();
  {  // the device settings as they were found (also after a drain timeout)
    Status r = governor ? governor->restore() : Status::Ok();
    if (Status all = devices.controls.restore_all(); r.ok()) r = all;
    if (!r.ok()) std::fprintf(stderr, "[joule] governor: restoring the device settings failed: %s\n", r.message().c_str());
  }
  const serve::EngineLoop::EnergyTotals t = loop.energy_totals();
  if (loop.energy_on())
    std::fprintf(stderr, "[joule] stopped: energy %.1f J (%s; the meter's own window: %s): %.1f J charged to "
                 "requests, %.1f J idle\n",
                 t.idle_j + t.charged_j, loop.energy_source().c_str(),
                 loop.metered_j() ? fixed1(*loop.metered_j()).c_str() : "none", t.charged_j, t.idle_j);
  else
    std::fprintf(stderr, "[joule] stopped\n");
  if (Status s = (*energy)->finish(); !s.ok()) return report_error(s);
  return 0;
}

}  // namespace

void register_serve(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "serve a model over the OpenAI HTTP API with continuous batching and per-request energy");
  add_model_options(cmd, &o->model);
  cmd->add_option("-a,--alias", o->alias, "the model's name in the API (default: the file name without .gguf)");
  cmd->add_option("--host", o->host, "address to listen on (loopback by default)")->capture_default_str();
  cmd->add_option("--port", o->port, "port to listen on (0: any free port)")->capture_default_str();
  add_threads_option(cmd, &o->threads);
  cmd->add_option("--max-sequences,--parallel", o->sched.max_sequences, "sequences decoded together at most (llama-server's --parallel)")
      ->capture_default_str();
  cmd->add_option("--max-batch-tokens", o->sched.max_batch_tokens, "tokens per step (decode and prefill chunks)")
      ->capture_default_str();
  cmd->add_option("--max-waiting", o->max_waiting,
                  "requests waiting at most per class (N, or urgent:N,normal:N,low:N); more are answered 429")
      ->capture_default_str();
  cmd->add_option("--scheduler", o->scheduler,
                  "priority (urgent, normal, low classes from the request's 'priority' or X-Priority) or fcfs")
      ->check(CLI::IsMember({"priority", "fcfs"}))
      ->capture_default_str();
  cmd->add_option("--reserve-urgent", o->reserve_urgent,
                  "share of sequences, step tokens and KV blocks kept for urgent requests only")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  cmd->add_option("--max-wait-s", o->max_wait_s, "a low request waiting this long is served as normal")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--governor", o->governor,
                  "on (--power-cap-w / --max-temp-c when given), energy (also the lowest device setting that meets "
                  "--slo-tpot-ms / --slo-ttft-ms) or off")
      ->check(CLI::IsMember({"on", "energy", "off"}))
      ->capture_default_str();
  cmd->add_option("--power-cap-w", o->power_cap_w,
                  "hold the measured power at or below W: device limits first, then pausing low and normal "
                  "admissions and pacing steps")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-temp-c", o->max_temp_c, "above this, pause low then normal work and lower device limits")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temp-margin-c", o->temp_margin_c, "resume once the temperature is this far under --max-temp-c")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--slo-tpot-ms", o->slo_tpot_ms, "--governor energy: p90 time per output token to meet")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--slo-ttft-ms", o->slo_ttft_ms, "--governor energy: p90 time to first token to meet")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cpufreq-governor", o->cpufreq_governor,
                  "set every cpufreq policy's scaling_governor to this while serving (e.g. performance, so the "
                  "governor's frequency limit is the frequency run), restored on exit");
  cmd->add_option("--governor-interval", o->governor_interval_s, "seconds between the governor's decisions")
      ->check(CLI::Range(0.1, 60.0))
      ->capture_default_str();
  cmd->add_option("--kv-cache-mib", o->kv_cache_mib,
                  "KV cache size in MiB (default " + std::to_string(kDefaultKvMib) +
                      ", at most every sequence at full context)");
  cmd->add_option("--kv-cache-tokens", o->kv_cache_tokens, "KV cache size in tokens (instead of --kv-cache-mib)");
  cmd->add_option("--block-tokens", o->block_tokens, "tokens per KV block")->capture_default_str();
  cmd->add_option("--api-key", o->api_keys,
                  "require 'Authorization: Bearer KEY' on /v1/ routes; KEY:CLASS serves that key's requests at most "
                  "as CLASS (urgent, normal, low); repeatable");
  cmd->add_option("--json-log", o->json_log, "append one JSON line per finished request to FILE");
  cmd->add_option("--chat-template", o->chat_template, "override the template: " + std::string(chat_template_names()));
  cmd->add_option("--drain-timeout", o->drain_timeout_s, "on SIGINT/SIGTERM, seconds to let running requests finish")
      ->capture_default_str();
  cmd->add_option("--max-body-mib", o->max_body_mib, "request bodies larger than this are answered 413")
      ->capture_default_str();
  cmd->add_option("--timeout", o->timeout_s, "seconds a client may take to send or read (then disconnected)")
      ->capture_default_str();
  add_energy_options(cmd, &o->energy);
  cmd->callback([o, &action] { action = [o] { return serve_main(*o); }; });
}

}  // namespace joule::cli
