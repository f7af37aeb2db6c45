#include "engine_cli.h"

#include <cstdio>

#include "core/process.h"
#include "remote/remote_engine.h"

namespace joule::cli {

void add_engine_options(CLI::App* cmd, EngineOptions* o) {
  cmd->add_option("--engine", o->kind, "joule (this process, -m MODEL) or openai (a server at --url)")
      ->check(CLI::IsMember({"joule", "openai"}))
      ->capture_default_str();
  cmd->add_option("--url", o->endpoint.url, "openai: the server's API base, e.g. http://127.0.0.1:8000/v1");
  cmd->add_option("--served-model", o->endpoint.model, "openai: the model to ask for (default: the one it serves)");
  cmd->add_option("--api-key", o->endpoint.api_key, "openai: sent as 'Authorization: Bearer KEY'");
  cmd->add_option("--concurrency", o->concurrency, "openai: requests in flight")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--request-timeout", o->endpoint.timeout_s, "openai: seconds per request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--engine-pid", o->engine_pid,
                  "openai: the server's process, whose CPU time (with its children's) drives the CPU estimate "
                  "(default: the process listening on a local URL's port)")
      ->check(CLI::PositiveNumber);
}

bool is_remote(const EngineOptions& o) { return o.kind == "openai"; }

nlohmann::json endpoint_json(const remote::Client& client) {
  return {{"kind", "openai"},
          {"url", client.url()},
          {"served_model", client.model()},
          {"models", client.models_answer()},
          {"server", client.server_header()}};
}

Status attribute_energy(const EngineOptions& o, EnergyOptions* energy) {
  if (!is_remote(o) || energy->off) return Status::Ok();
  if (o.engine_pid > 0) {
    energy->estimate.pid = o.engine_pid;
    return Status::Ok();
  }
  const std::string host = remote::url_host(o.endpoint.url);
  if (!remote::is_loopback_host(host)) {
    std::fprintf(stderr,
                 "[joule] the engine runs at %s, not on this machine: its sensors would not measure it, so energy "
                 "is not measured (run joule on the engine's machine; if %s is this machine, give --engine-pid)\n",
                 host.c_str(), host.c_str());
    energy->off = true;
    return Status::Ok();
  }
  auto pid = listening_pid(remote::url_port(o.endpoint.url));
  if (pid.ok()) {
    energy->estimate.pid = *pid;
    std::fprintf(stderr, "[joule] the engine is process %d (listening on port %d)\n", static_cast<int>(*pid),
                 remote::url_port(o.endpoint.url));
  } else {
    energy->estimate.unattributable = "the engine's process is not known (" + pid.status().message() +
                                      "); give --engine-pid";
  }
  return Status::Ok();
}

Expected<OpenedEngine> open_engine(const EngineOptions& o, const ModelOptions& model, int threads, int n_ctx,
                                   const std::string& scoring_tasks) {
  OpenedEngine e;
  if (!is_remote(o)) {
    if (!o.endpoint.url.empty()) return InvalidArgument("--url needs --engine openai");
    if (o.engine_pid > 0) return InvalidArgument("--engine-pid needs --engine openai (joule's engine is this process)");
    JOULE_RETURN_IF_ERROR(check_threads(threads));
    JOULE_ASSIGN_OR_RETURN(e.lm, load_model(model));
    const int ctx = std::min(n_ctx, e.lm.model->config().ctx_train);
    e.pool = std::make_unique<ThreadPool>(threads);
    e.engine = std::make_unique<LocalEvalEngine>(*e.lm.model, *e.lm.tokenizer, ctx, *e.pool, cpu::best_kernels());
    e.description = {{"kind", "joule"},
                     {"model", e.lm.path},
                     {"precision", e.lm.precision},
                     {"weight_types", weight_types_json(*e.lm.model)},
                     {"threads", threads},
                     {"ctx", ctx}};
    e.label = "joule (" + e.lm.path + ", " + e.lm.precision + ")";
    return e;
  }
  if (!model.path.empty() || !model.precision.empty() || !model.policy.empty())
    return InvalidArgument("--engine openai evaluates the server's model: -m, --precision and --policy do not apply");
  if (o.endpoint.url.empty()) return InvalidArgument("--engine openai needs --url (e.g. http://127.0.0.1:8000/v1)");
  JOULE_ASSIGN_OR_RETURN(remote::Client client, remote::Client::connect(o.endpoint));
  e.description = endpoint_json(client);
  e.description["concurrency"] = o.concurrency;
  e.label = "openai " + client.url() + " model " + client.model();
  auto remote_engine = std::make_unique<remote::RemoteEvalEngine>(std::move(client), o.concurrency);
  if (!scoring_tasks.empty())
    if (Status s = remote_engine->check_scoring(); !s.ok())
      return Status(s.code(), "cannot evaluate " + scoring_tasks + ": " + s.message());
  e.engine = std::move(remote_engine);
  return e;
}

}  // namespace joule::cli
