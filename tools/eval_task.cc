#include "eval_task.h"

#include <cstdio>

namespace joule::cli {

void ProgressBar::update(int done, int total) {
  const auto now = std::chrono::steady_clock::now();
  if (done != total && now - last_ < std::chrono::milliseconds(500)) return;
  last_ = now;
  const double el = std::chrono::duration<double>(now - t0_).count();
  const double eta = done > 0 ? el / done * (total - done) : 0;
  std::fprintf(stderr, "\r[%s] %s %d/%d (%.0f %%) %.0f s, ETA %.0f s   %s", prefix_.c_str(), label_.c_str(), done,
               total, 100.0 * done / total, el, eta, done == total ? "\n" : "");
}

nlohmann::json metrics_json(const eval::TaskResult& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : r.metrics) j[name] = {{"value", m.value}, {"stderr", m.std_err}};
  return j;
}

Expected<TaskRun> run_eval_task(const eval::TaskInfo& task, const eval::SelectOptions& sel, const LoadedModel& lm,
                                int n_ctx, int max_gen_tokens, ThreadPool& pool, LoglikScorer& scorer,
                                EnergySession& energy, const std::function<void(int, int)>& progress) {
  TaskRun run;
  run.window = "task:" + std::string(task.name);
  auto scored = [&]() -> Expected<eval::TaskResult> {
    if (task.generative) {
      JOULE_ASSIGN_OR_RETURN(auto cases, eval::build_gsm8k_cases(sel));
      energy.begin(run.window);
      return eval::run_gsm8k_task(cases, *lm.model, *lm.tokenizer, n_ctx, max_gen_tokens, pool, cpu::best_kernels(),
                                  progress);
    }
    JOULE_ASSIGN_OR_RETURN(auto cases, eval::build_mc_cases(task, sel));
    energy.begin(run.window);
    return eval::run_mc_task(task, cases, scorer, progress);
  }();
  energy.end(run.window);
  if (!scored.ok()) return scored.status();
  run.result = std::move(*scored);
  if (const energy::WindowResult* w = energy.result(run.window)) {
    for (const energy::DomainWindow& d : w->domains) {
      if (!d.energy_j) continue;
      run.energy_j = run.energy_j.value_or(0) + *d.energy_j;
      run.sources += (run.sources.empty() ? "" : ", ") + d.domain + " " + std::string(energy::source_name(d.source));
    }
  }
  return run;
}

}  // namespace joule::cli
