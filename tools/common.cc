#include "common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>

#include "core/cpu_features.h"
#include "core/file.h"
#include "core/version.h"
#include "formats/hf/hf.h"
#include "paths.h"

namespace joule::cli {

Expected<std::string> model_path(const ModelOptions& o) {
  if (o.path.empty()) return find_default_model();
  if (!std::filesystem::exists(o.path)) return NotFound("model file not found: " + o.path);
  if (hf::is_folder(o.path)) {  // a Hugging Face folder runs as the GGUF it converts to, made once
    std::string note;
    JOULE_ASSIGN_OR_RETURN(std::string gguf, hf::cached_gguf(o.path, &note));
    if (!note.empty()) std::fprintf(stderr, "[joule] note: %s\n", note.c_str());
    return gguf;
  }
  return o.path;
}

Expected<LoadedModel> load_model(const ModelOptions& o) {
  JOULE_ASSIGN_OR_RETURN(const std::string path, model_path(o));
  if (!o.precision.empty() && !o.policy.empty())
    return InvalidArgument("--precision and --policy exclude each other (a policy can say '* = " +
                           o.precision + "')");
  std::optional<Policy> policy;
  LoadedModel lm;
  lm.path = path;
  lm.precision = "stored";
  if (!o.precision.empty()) {
    std::string note;
    const std::optional<Precision> p = find_precision(o.precision, &note);
    if (!p)
      return InvalidArgument("--precision '" + o.precision + "' is not one of " + precision_list());
    if (!note.empty()) std::fprintf(stderr, "[joule] note: %s\n", note.c_str());
    policy = Policy::uniform(p->type);
    lm.precision = std::string(p->name);
  } else if (!o.policy.empty()) {
    JOULE_ASSIGN_OR_RETURN(policy, Policy::load(o.policy));
    lm.precision = "policy " + o.policy;
  }
  const auto t0 = std::chrono::steady_clock::now();
  JOULE_ASSIGN_OR_RETURN(lm.model, Model::load(path, {policy ? &*policy : nullptr}));
  // Notes read "NAME: why"; the same reason for many matrices is printed once.
  std::map<std::string, std::vector<std::string>> by_reason;
  for (const std::string& note : lm.model->load_notes()) {
    const size_t colon = note.find(": ");
    by_reason[note.substr(colon + 2)].push_back(note.substr(0, colon));
  }
  for (const auto& [reason, names] : by_reason)
    std::fprintf(stderr, "[joule] note: %s%s: %s\n", names.front().c_str(),
                 names.size() > 1 ? (" and " + std::to_string(names.size() - 1) + " more").c_str() : "",
                 reason.c_str());
  if (lm.precision == "stored") {  // named by the type most of its matrices are stored in
    const nlohmann::json types = weight_types_json(*lm.model);
    int most = 0;
    for (const auto& [type, n] : types.items())
      if (n.get<int>() > most) most = n.get<int>(), lm.precision = type;
  }
  JOULE_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::from_gguf(lm.model->file()));
  lm.tokenizer = std::make_unique<Tokenizer>(std::move(tok));
  lm.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return lm;
}

int default_threads() { return cpu_features().physical_cores; }

Status check_threads(int n) {
  const int max = cpu_features().logical_cpus;
  if (n < 1 || n > max)
    return InvalidArgument("-t " + std::to_string(n) + ": threads must be between 1 and " +
                           std::to_string(max) + " (the CPUs of this machine)");
  return Status::Ok();
}

void add_model_options(CLI::App* cmd, ModelOptions* o) {
  cmd->add_option("-m,--model", o->path,
                  std::string("GGUF model file, or a Hugging Face folder (converted once, cached) (default: "
                              "$JOULE_MODEL, else joule's default model, ") +
                      kDefaultModelFile + ", from the install or source tree)");
  cmd->add_option("--precision", o->precision,
                  "convert the weight matrices at load time: " + precision_list() +
                      " (default: as stored)");
  cmd->add_option("--policy", o->policy, "per-tensor precisions from a policy file (docs/precisions.md)");
}

nlohmann::json weight_types_json(const Model& m) {
  nlohmann::json types = nlohmann::json::object();
  for (const auto& [name, w] : m.weights().matrices()) {
    const std::string type(precision_name(w->type));
    types[type] = types.value(type, 0) + 1;
  }
  return types;
}

void add_threads_option(CLI::App* cmd, int* threads) {
  *threads = default_threads();
  cmd->add_option("-t,--threads", *threads, "worker threads (default: physical cores)")
      ->capture_default_str();
}

void add_sampler_options(CLI::App* cmd, SamplerParams* p) {
  cmd->add_option("--temp", p->temperature, "temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", p->top_k, "top-k (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", p->top_p, "top-p (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", p->min_p, "min-p (0 = off)")->capture_default_str();
  cmd->add_option("--seed", p->seed, "random seed")->capture_default_str();
}

Expected<ChatTemplate> resolve_chat_template(const Model& m, const std::string& override_name) {
  if (!override_name.empty()) return chat_template_from_name(override_name);
  auto jinja = m.file().get_string("tokenizer.chat_template");
  if (!jinja.ok())
    return Unsupported("the model has no chat template; pass --chat-template chatml|llama2|llama3");
  return detect_chat_template(*jinja);
}

int report_error(const Status& s) {
  std::fprintf(stderr, "joule: error: %s\n", s.message().c_str());
  return s.code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

nlohmann::json provenance(const std::string& model_path) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const CpuFeatures& cpu = cpu_features();
  nlohmann::json j = {{"joule_version", joule_version()},
          {"git_commit", joule_git_commit()},
          {"host", host},
          {"cpu", cpu.model_name},
          {"kernels", cpu::best_kernels().isa},
          {"date", date}};
  if (!model_path.empty()) {
    auto sha = sha256_file(model_path, "model");
    j["model_sha256"] = sha.ok() ? nlohmann::json(*sha) : nlohmann::json(nullptr);
  }
  return j;
}

}  // namespace joule::cli
