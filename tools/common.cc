#include "common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "core/cpu_features.h"

namespace joule::cli {

Expected<LoadedModel> load_model(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    std::string hint = path == kDefaultModel
                           ? " (run scripts/setup.sh to fetch the default model, or pass -m FILE)"
                           : "";
    return NotFound("model file not found: " + path + hint);
  }
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel lm;
  JOULE_ASSIGN_OR_RETURN(lm.model, Model::load(path));
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

void add_model_option(CLI::App* cmd, std::string* model) {
  *model = kDefaultModel;
  cmd->add_option("-m,--model", *model, "GGUF model file")->capture_default_str();
}

void add_threads_option(CLI::App* cmd, int* threads) {
  *threads = default_threads();
  cmd->add_option("-t,--threads", *threads, "worker threads (default: physical cores)")
      ->capture_default_str();
}

int report_error(const Status& s) {
  std::fprintf(stderr, "joule: error: %s\n", s.message().c_str());
  return s.code() == ErrorCode::kInvalidArgument ? 2 : 1;
}

nlohmann::json provenance() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const CpuFeatures& cpu = cpu_features();
  return {{"joule_version", JOULE_VERSION},
          {"git_commit", JOULE_GIT_COMMIT},
          {"host", host},
          {"cpu", cpu.model_name},
          {"kernels", cpu::best_kernels().isa},
          {"date", date}};
}

}  // namespace joule::cli
