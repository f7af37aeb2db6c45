#include "eval_task.h"

#include <cstdio>

namespace joule::cli {

nlohmann::json metrics_json(const eval::TaskResult& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : r.metrics) j[name] = {{"value", m.value}, {"stderr", m.std_err}};
  return j;
}

Expected<TaskRun> run_eval_task(const eval::TaskInfo& task, const eval::SelectOptions& sel, EvalEngine& engine,
                                int max_gen_tokens, EnergySession& energy, const std::function<void(int, int)>& progress) {
  TaskRun run;
  run.window = "task:" + std::string(task.name);
  bool measuring = false;  // the window opens once the items are built (a data error comes first)
  auto scored = [&]() -> Expected<eval::TaskResult> {
    if (task.generative) {
      JOULE_ASSIGN_OR_RETURN(auto cases, eval::build_gsm8k_cases(sel));
      energy.begin(run.window);
      measuring = true;
      return eval::run_gsm8k_task(cases, engine, max_gen_tokens, progress);
    }
    JOULE_ASSIGN_OR_RETURN(auto cases, eval::build_mc_cases(task, sel));
    energy.begin(run.window);
    measuring = true;
    return eval::run_mc_task(task, cases, engine, progress);
  }();
  if (measuring) energy.end(run.window);
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
