// joule serve: the OpenAI-compatible server (src/serve) around one model, with the energy of every
// request. This file only wires flags, the model, the meter, the log and the signals.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <algorithm>
#include <thread>

#include "common.h"
#include "energy_cli.h"
#include "core/clock.h"
#include "core/thread_pool.h"
#include "sched/scheduler.h"
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
  int kv_cache_mib = 0;
  int kv_cache_tokens = 0;
  int block_tokens = 16;
  std::string api_key;
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

int serve_main(const ServeOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  if (Status s = sched::validate(o.sched); !s.ok()) return report_error(s);
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
  sched::FcfsPolicy policy;
  sched::Scheduler scheduler(o.sched, pool, policy);
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
  serve::EngineLoop loop(engine, (*energy)->meter(), hooks, size_t(o.sched.max_waiting));
  metrics = std::make_unique<serve::ServeMetrics>(model_id, loop.energy_on() ? loop.energy_source() : "");

  serve::HttpConfig hc;
  hc.host = o.host;
  hc.port = o.port;
  hc.api_key = o.api_key;
  hc.model_id = model_id;
  // A request never needs more than the pool (the scheduler would refuse it outright), so the
  // server's context is the smaller of the model's and the pool's: a request without max_tokens
  // gets the rest of it.
  const int context_tokens = std::min(mc.ctx_train, n_blocks * o.block_tokens);
  hc.context_tokens = context_tokens;
  hc.max_body_bytes = o.max_body_mib << 20;
  hc.read_timeout_s = hc.write_timeout_s = o.timeout_s;
  // Every running or waiting request holds a connection thread, plus a few for /health, /metrics.
  hc.threads = o.sched.max_sequences + o.sched.max_waiting + 8;
  serve::HttpServer http(hc, loop, tok, *tmpl, *metrics);
  if (Status s = http.bind(); !s.ok()) return report_error(s);
  loop.start();

  std::fprintf(stderr,
               "[joule] serving %s (%s, precision %s) at http://%s:%d/v1\n"
               "[joule] %d threads, %s kernels | up to %d sequences, %d tokens per step, %d waiting | KV cache "
               "%d blocks x %d tokens = %d tokens, %.0f MiB | context %d\n",
               model_id.c_str(), lm->path.c_str(), lm->precision.c_str(), o.host.c_str(), http.port(), o.threads,
               ks.isa, o.sched.max_sequences, o.sched.max_batch_tokens, o.sched.max_waiting, n_blocks,
               o.block_tokens, n_blocks * o.block_tokens, double(n_blocks) * o.block_tokens * bytes_per_token / (1 << 20),
               context_tokens);
  if (context_tokens < mc.ctx_train)
    std::fprintf(stderr, "[joule] the KV cache holds fewer tokens than the model's context (%d): a request's prompt and "
                 "max_tokens are limited to %d; give --kv-cache-mib for more\n", mc.ctx_train, context_tokens);
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
  cmd->add_option("--max-waiting", o->sched.max_waiting, "requests waiting at most; more are answered 429")
      ->capture_default_str();
  cmd->add_option("--kv-cache-mib", o->kv_cache_mib,
                  "KV cache size in MiB (default " + std::to_string(kDefaultKvMib) +
                      ", at most every sequence at full context)");
  cmd->add_option("--kv-cache-tokens", o->kv_cache_tokens, "KV cache size in tokens (instead of --kv-cache-mib)");
  cmd->add_option("--block-tokens", o->block_tokens, "tokens per KV block")->capture_default_str();
  cmd->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' on /v1/ routes");
  cmd->add_option("--json-log", o->json_log, "append one JSON line per finished request to FILE");
  cmd->add_option("--chat-template", o->chat_template, "override the template: chatml, llama2, llama3");
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
