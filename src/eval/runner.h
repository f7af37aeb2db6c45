// Runs a multiple-choice task through the model and aggregates its metrics.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/eval_engine.h"
#include "eval/tasks.h"
#include "metrics/paired.h"

namespace joule::eval {

struct MetricValue {
  double value = 0;
  double std_err = 0;  // of the mean over items (bootstrap for macro averages)
};

struct TaskResult {
  std::string task;
  std::string primary;  // the headline metric: "acc", "acc_norm" or "mc2"
  int n_items = 0;
  std::map<std::string, MetricValue> metrics;
  double seconds = 0;
  int64_t tokens = 0;  // tokens evaluated (contexts + continuations)
  int64_t naive_tokens = 0;  // log-likelihood tasks: tokens without prefix reuse (0 for gsm8k)
  std::vector<metrics::ItemOutcome> items;  // per item, in case order (metrics/paired.h)
};

// Called after each item with how many are done.
using ItemProgress = std::function<void(int done, int total)>;

// GSM8K: greedy generation of up to max_tokens per item, cut at the first stop string;
// exact_match for the strict ("#### N", headline) and flexible (last number) extractions.
Expected<TaskResult> run_gsm8k_task(const std::vector<GenCase>& cases, EvalEngine& engine, int max_tokens,
                                    const ItemProgress& progress = {});

Expected<TaskResult> run_mc_task(const TaskInfo& task, const std::vector<McCase>& cases, EvalEngine& engine,
                                 const ItemProgress& progress = {});

}  // namespace joule::eval
