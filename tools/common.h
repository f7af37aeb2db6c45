// Shared pieces of the joule subcommands: model loading, thread defaults, error reporting.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "backend/cpu/kernels.h"
#include "core/status.h"
#include "engine/sampler.h"
#include "tokenizer/chat_template.h"
#include "model/model.h"
#include "quant/precision.h"
#include "tokenizer/tokenizer.h"

namespace joule::cli {

// -m, --precision and --policy: which file, and the precision its weights are used in.
struct ModelOptions {
  std::string path;       // empty = $JOULE_MODEL, else the default model (tools/paths.h)
  std::string precision;  // a precision name; empty = as stored
  std::string policy;     // a policy file (quant/policy.h); exclusive with precision
};

struct LoadedModel {
  std::string path;  // the file loaded (the default model's resolved path when -m was not given)
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  double load_ms = 0;
  std::string precision;  // the precision asked for, "policy FILE", or (as stored) the type most matrices have
};

// Loads model and tokenizer, converting weights as the options say (notes about matrices kept
// in their stored type go to stderr); the error says how to get the default model when it is
// missing.
Expected<LoadedModel> load_model(const ModelOptions& o);
// The file -m names, else the default model (tools/paths.h).
Expected<std::string> model_path(const ModelOptions& o);

int default_threads();  // physical cores
Status check_threads(int n);

// Adds -m/--model, --precision and --policy; -t/--threads.
void add_model_options(CLI::App* cmd, ModelOptions* o);
void add_threads_option(CLI::App* cmd, int* threads);

// Adds --temp, --top-k, --top-p, --min-p and --seed.
void add_sampler_options(CLI::App* cmd, SamplerParams* p);

// The chat template named by --chat-template, else the one the model's Jinja text matches.
Expected<ChatTemplate> resolve_chat_template(const Model& m, const std::string& override_name);

// Prints "joule: error: <message>" to stderr and returns the exit code for it.
int report_error(const Status& s);

// The weight types of a loaded model's matrices and how many matrices each ({"q4_1": 210}).
nlohmann::json weight_types_json(const Model& m);

// Where a result came from: joule version and commit, host, CPU, kernels, UTC date; with a model
// path also the model file's SHA-256 (null if it cannot be read).
nlohmann::json provenance(const std::string& model_path = "");

// Each subcommand registers itself and sets `run` to its action when parsed.
using Action = std::function<int()>;
void register_run(CLI::App& app, Action& action);
void register_chat(CLI::App& app, Action& action);
void register_info(CLI::App& app, Action& action);
void register_bench(CLI::App& app, Action& action);
void register_quantize(CLI::App& app, Action& action);
void register_perplexity(CLI::App& app, Action& action);
void register_init_random(CLI::App& app, Action& action);
void register_convert(CLI::App& app, Action& action);
void register_eval(CLI::App& app, Action& action);
void register_power(CLI::App& app, Action& action);
void register_study(CLI::App& app, Action& action);
void register_study_slurm(CLI::App* study, Action& action);  // under `joule study`
void register_report(CLI::App& app, Action& action);
void register_recommend(CLI::App& app, Action& action);
void register_serve(CLI::App& app, Action& action);
void register_loadgen(CLI::App& app, Action& action);

}  // namespace joule::cli
