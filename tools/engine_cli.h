// The engine an evaluation runs on: joule's own (-m MODEL) or an OpenAI-compatible server
// (--engine openai --url ...), with the flags both take and the energy attribution each needs.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common.h"
#include "energy_cli.h"
#include "engine/eval_engine.h"
#include "remote/client.h"

namespace joule::cli {

struct EngineOptions {
  std::string kind = "joule";  // joule | openai
  remote::EndpointOptions endpoint;
  int concurrency = 8;   // openai: requests in flight
  int engine_pid = 0;    // openai: the process whose CPU time the estimate follows (0: found by port)
};

// --engine, --url, --served-model, --api-key, --concurrency, --request-timeout, --engine-pid.
void add_engine_options(CLI::App* cmd, EngineOptions* o);

struct OpenedEngine {
  std::unique_ptr<EvalEngine> engine;
  LoadedModel lm;                    // joule's engine: the model it loaded
  std::unique_ptr<ThreadPool> pool;  // joule's engine
  nlohmann::json description;        // {"kind": ..., ...} for JSON output and provenance
  std::string label;                 // "joule (model.gguf, q4_1)" / "openai http://... model M"
};

bool is_remote(const EngineOptions& o);

// What a connected server said about itself, for JSON output and provenance: kind "openai", url,
// served_model, its /models answer and its Server header.
nlohmann::json endpoint_json(const remote::Client& client);

// Where the CPU estimate's time comes from for this engine, set in `energy` before its
// session starts: joule's own process for joule's engine; the server's process tree (--engine-pid,
// else the process listening on a loopback URL's port); for an engine on another host, no
// energy at all (this machine's sensors do not see it). Says what it decided on stderr.
Status attribute_energy(const EngineOptions& o, EnergyOptions* energy);

// joule's engine loads its model (n_ctx capped by the model's context); a server is connected
// to and, when `scoring_tasks` names log-likelihood tasks, asked once whether it can score them
// (the error names them).
Expected<OpenedEngine> open_engine(const EngineOptions& o, const ModelOptions& model, int threads, int n_ctx,
                                   const std::string& scoring_tasks);

}  // namespace joule::cli
