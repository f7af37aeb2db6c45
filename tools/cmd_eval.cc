// joule eval: score a model on benchmark tasks and measure the energy each task took
// (score, energy with its source, EOR = score / Wh, TWEOR = score / (Wh x s), J/token).
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "common.h"
#include "energy_cli.h"
#include "engine_cli.h"
#include "eval_task.h"
#include "paths.h"
#include "eval/hellaswag_llamacpp.h"
#include "eval/runner.h"
#include "metrics/efficiency.h"

namespace joule::cli {
namespace {

struct EvalOptions {
  ModelOptions model;
  EngineOptions engine;
  std::string log_samples;  // JSON lines, one per item
  std::string tasks;
  std::string data_dir;
  int shots = -1;
  int limit = 0;
  int sample = 0;
  uint64_t seed = 1234;
  int n_ctx = 2048;
  int max_gen_tokens = 256;    // gsm8k
  int hellaswag_llamacpp = 0;  // > 0: also llama.cpp's HellaSwag scoring on its selection of N items
  int threads = 1;
  bool json = false;
  EnergyOptions energy;
};

// One JSON line per item (lm-evaluation-harness's --log_samples, in joule's item terms): the
// choice picked, its score and its margin over the runner-up, for comparing engines item by item.
void write_samples(std::FILE* f, const eval::TaskResult& r) {
  for (const metrics::ItemOutcome& it : r.items) {
    nlohmann::json j = {{"task", r.task}, {"id", it.id}, {"score", it.score}};
    if (!it.cluster.empty()) j["cluster"] = it.cluster;
    if (it.choice >= 0) j["choice"] = it.choice;
    if (it.margin) j["margin"] = *it.margin;
    std::fprintf(f, "%s\n", j.dump().c_str());
  }
  std::fflush(f);
}

int run(const EvalOptions& o) {
  if (Status s = check_threads(o.threads); !s.ok()) return report_error(s);
  std::vector<eval::TaskInfo> todo;
  std::stringstream names(o.tasks);
  for (std::string name; std::getline(names, name, ',');) {
    const std::optional<eval::TaskInfo> t = eval::find_task(name);
    if (!t) return report_error(InvalidArgument("--tasks '" + name + "' is not one of " + eval::task_list()));
    todo.push_back(*t);
  }
  if (todo.empty() && o.hellaswag_llamacpp <= 0)
    return report_error(InvalidArgument("give --tasks (and/or --hellaswag-llamacpp N)"));
  if (o.hellaswag_llamacpp > 0 && is_remote(o.engine))
    return report_error(InvalidArgument("--hellaswag-llamacpp scores with joule's own engine; it does not apply to --engine openai"));
  auto data_dir = find_data_dir(o.data_dir);
  if (!data_dir.ok()) return report_error(data_dir.status());
  std::string scoring_tasks;
  for (const eval::TaskInfo& t : todo)
    if (!t.generative) scoring_tasks += (scoring_tasks.empty() ? "" : ", ") + std::string(t.name);
  auto opened = open_engine(o.engine, o.model, o.threads, o.n_ctx, scoring_tasks);
  if (!opened.ok()) return report_error(opened.status());
  if (is_remote(o.engine)) std::fprintf(stderr, "[joule eval] engine: %s\n", opened->label.c_str());
  EnergyOptions energy_options = o.energy;
  if (Status s = attribute_energy(o.engine, &energy_options); !s.ok()) return report_error(s);
  if (energy_options.estimate.pid > 0) opened->description["energy_pid"] = energy_options.estimate.pid;
  auto meter = EnergySession::start(energy_options);
  if (!meter.ok()) return report_error(meter.status());
  EnergySession& energy = **meter;
  EvalEngine& engine = *opened->engine;
  const eval::SelectOptions sel{*data_dir, o.shots, o.limit, o.sample, o.seed};
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> samples(nullptr, &std::fclose);
  if (!o.log_samples.empty()) {
    samples.reset(std::fopen(o.log_samples.c_str(), "w"));
    if (!samples) return report_error(IoError("cannot write --log-samples " + o.log_samples + ": " + std::strerror(errno)));
  }

  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::string> table;
  for (const eval::TaskInfo& t : todo) {
    ProgressBar bar("joule eval", std::string(t.name));
    auto done = run_eval_task(t, sel, engine, o.max_gen_tokens, energy, [&](int n, int total) { bar.update(n, total); });
    if (!done.ok()) return report_error(done.status());
    const eval::TaskResult* r = &done->result;
    if (samples) write_samples(samples.get(), *r);
    const eval::MetricValue score = r->metrics.at(r->primary);
    const std::optional<double>& energy_j = done->energy_j;
    const std::string& sources = done->sources;
    const std::string& window = done->window;
    nlohmann::json row = {{"task", r->task},
                          {"items", r->n_items},
                          {"shots", o.shots >= 0 ? o.shots : t.default_shots},
                          {"primary_metric", r->primary},
                          {"seconds", r->seconds},
                          {"tokens", r->tokens},
                          {"tokens_per_s", r->tokens / r->seconds}};
    if (r->naive_tokens > 0) row["tokens_without_prefix_reuse"] = r->naive_tokens;
    row["metrics"] = metrics_json(*r);
    char cells[512];
    if (energy_j) {
      row["energy_j"] = *energy_j;
      row["energy_wh"] = *energy_j / 3600;
      row["energy_sources"] = sources;
      row["j_per_token"] = *energy_j / r->tokens;
      row["eor"] = metrics::eor(score.value, *energy_j);
      row["tweor"] = metrics::tweor(score.value, *energy_j, r->seconds);
      if (const energy::WindowResult* w = energy.result(window)) row["energy"] = window_json(*w, static_cast<int>(r->tokens));
      std::snprintf(cells, sizeof(cells), "%.2f J (%s) | %.4g | %.4g | %.4g", *energy_j, sources.c_str(),
                    *energy_j / r->tokens, metrics::eor(score.value, *energy_j),
                    metrics::tweor(score.value, *energy_j, r->seconds));
    } else {
      std::snprintf(cells, sizeof(cells), "not measured | | |");
    }
    // One row per metric, as lm-evaluation-harness prints them: the headline (which EOR and
    // TWEOR use, marked *) with the run's figures, then the task's other metrics.
    char line[1024];
    std::snprintf(line, sizeof(line), "| %s | %d | %s * | %.4f ± %.4f | %.1f | %lld | %.0f | %s |", r->task.c_str(),
                  r->n_items, r->primary.c_str(), score.value, score.std_err, r->seconds,
                  static_cast<long long>(r->tokens), r->tokens / r->seconds, cells);
    table.push_back(line);
    for (const auto& [name, m] : r->metrics) {
      if (name == r->primary) continue;
      std::snprintf(line, sizeof(line), "| | | %s | %.4f ± %.4f | | | | | | | |", name.c_str(), m.value, m.std_err);
      table.push_back(line);
    }
    rows.push_back(row);
  }
  // llama.cpp's HellaSwag criterion on llama.cpp's choice of items, for a like-for-like
  // comparison with `llama-perplexity --hellaswag --hellaswag-tasks N`.
  nlohmann::json llamacpp_hs;
  if (o.hellaswag_llamacpp > 0) {
    auto items = eval::load_hellaswag((std::filesystem::path(*data_dir) / "hellaswag/hellaswag_val_full.txt").string());
    if (!items.ok()) return report_error(items.status());
    std::vector<eval::McItem> chosen;
    for (size_t i : eval::llamacpp_hellaswag_selection(items->size(), static_cast<size_t>(o.hellaswag_llamacpp)))
      chosen.push_back((*items)[i]);
    ProgressBar bar("joule eval", "hellaswag (llama.cpp scoring)");
    const auto t0 = std::chrono::steady_clock::now();
    auto r = eval::llamacpp_hellaswag(*opened->lm.model, *opened->lm.tokenizer, chosen, *opened->pool, cpu::best_kernels(),
                                      [&](int done, int total) { bar.update(done, total); });
    if (!r.ok()) return report_error(r.status());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    llamacpp_hs = {{"tasks", r->n}, {"acc", r->acc()}, {"correct", r->correct}, {"tokens", r->tokens}, {"seconds", seconds},
                   {"chosen", r->chosen}, {"mean_logprob", r->mean_logprob}, {"gold", nlohmann::json::array()}};
    for (const eval::McItem& item : chosen) llamacpp_hs["gold"].push_back(item.gold);
    char line[256];
    std::snprintf(line, sizeof(line), "hellaswag, llama.cpp's scoring and selection: %d tasks, acc %.2f %% (%d correct), %.1f s",
                  r->n, 100 * r->acc(), r->correct, seconds);
    table.push_back(std::string("\n") + line);
  }
  if (Status s = energy.finish(); !s.ok()) return report_error(s);
  if (o.json) {
    const nlohmann::json& d = opened->description;
    const bool remote = is_remote(o.engine);
    nlohmann::json j = {{"model", remote ? d["served_model"] : d["model"]},
                        {"precision", remote ? nlohmann::json(nullptr) : d["precision"]},
                        {"weight_types", remote ? nlohmann::json(nullptr) : d["weight_types"]},
                        {"device", remote ? nlohmann::json(nullptr) : nlohmann::json("cpu")},
                        {"threads", remote ? nlohmann::json(nullptr) : d["threads"]},
                        {"ctx", remote ? nlohmann::json(nullptr) : d["ctx"]},
                        {"engine", d},
                        {"data_dir", *data_dir},
                        {"seed", o.seed},
                        {"limit", o.limit},
                        {"sample", o.sample},
                        {"tasks", rows},
                        {"hellaswag_llamacpp", llamacpp_hs},
                        {"energy_sources", energy.sources_json()},
                        {"provenance", provenance(remote ? "" : opened->lm.path)}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("| task | items | metric | score ± stderr | s | tokens | tok/s | energy | J/token | EOR (1/Wh) | TWEOR (1/(Wh s)) |\n");
  std::printf("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n");
  for (const std::string& l : table) std::printf("%s\n", l.c_str());
  std::printf("\n* the task's headline metric, which EOR = score / Wh and TWEOR = score / (Wh x s) use\n");
  if (energy.on()) std::fprintf(stderr, "%s\n", energy.sources_text().c_str());
  return 0;
}

}  // namespace

void register_eval(CLI::App& app, Action& action) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "score a model on benchmark tasks (lm-evaluation-harness prompts) with the energy each took");
  add_model_options(cmd, &o->model);
  add_engine_options(cmd, &o->engine);
  cmd->add_option("--task,--tasks", o->tasks, "tasks, comma-separated: " + eval::task_list());
  cmd->add_option("--hellaswag-llamacpp", o->hellaswag_llamacpp,
                  "also score HellaSwag as llama-perplexity --hellaswag does, on its selection of N items");
  cmd->add_option("--data", o->data_dir,
                  "benchmark data folder (default: $JOULE_DATA_DIR, else the data/ joule ships with)");
  cmd->add_option("--shots,--num_fewshot", o->shots, "few-shot examples (default: the task's: mmlu 5, others 0)");
  cmd->add_option("--limit", o->limit, "evaluate the first N items of each task");
  cmd->add_option("--sample", o->sample, "evaluate N items drawn at random (with --seed)");
  cmd->add_option("--seed", o->seed, "seed for --sample and few-shot selection")->capture_default_str();
  cmd->add_option("--ctx", o->n_ctx, "context window (capped by the model's)")->capture_default_str();
  cmd->add_option("--max-gen-tokens", o->max_gen_tokens, "gsm8k: tokens generated at most per answer")->capture_default_str();
  add_threads_option(cmd, &o->threads);
  add_energy_options(cmd, &o->energy);
  cmd->add_option("--log-samples", o->log_samples, "write each item's choice, score and margin to FILE (JSON lines)");
  cmd->add_flag("--json", o->json, "print JSON");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
