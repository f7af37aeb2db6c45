// One evaluation task run under its own energy window: shared by `joule eval` and the study
// runner's cells, so both measure a task the same way.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common.h"
#include "energy_cli.h"
#include "engine/eval_engine.h"
#include "eval/runner.h"
#include "eval/tasks.h"
#include "progress.h"

namespace joule::cli {

struct TaskRun {
  eval::TaskResult result;
  std::string window;              // the energy window's name ("task:<name>")
  std::optional<double> energy_j;  // sum over the domains whose energy is known; nullopt if none
  std::string sources;             // "cpu estimated", "gpu0 counter, cpu counter", ...
};

// {"acc": {"value": v, "stderr": e}, ...}: every metric of a task, as eval and study store them.
nlohmann::json metrics_json(const eval::TaskResult& r);

// Builds the task's items (before the window opens: loading data is not counted), then scores
// them inside the window.
Expected<TaskRun> run_eval_task(const eval::TaskInfo& task, const eval::SelectOptions& sel, EvalEngine& engine,
                                int max_gen_tokens, EnergySession& energy, const std::function<void(int, int)>& progress);

}  // namespace joule::cli
