// One evaluation task run under its own energy window: shared by `joule eval` and the study
// runner's cells, so both measure a task the same way.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "common.h"
#include "energy_cli.h"
#include "engine/loglik.h"
#include "eval/runner.h"
#include "eval/tasks.h"

namespace joule::cli {

// A progress line on stderr with the rate and an ETA, at most twice a second.
class ProgressBar {
 public:
  ProgressBar(std::string prefix, std::string label)
      : prefix_(std::move(prefix)), label_(std::move(label)), t0_(std::chrono::steady_clock::now()) {}
  void update(int done, int total);

 private:
  std::string prefix_, label_;
  std::chrono::steady_clock::time_point t0_, last_;
};

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
Expected<TaskRun> run_eval_task(const eval::TaskInfo& task, const eval::SelectOptions& sel, const LoadedModel& lm,
                                int n_ctx, int max_gen_tokens, ThreadPool& pool, LoglikScorer& scorer,
                                EnergySession& energy, const std::function<void(int, int)>& progress);

}  // namespace joule::cli
