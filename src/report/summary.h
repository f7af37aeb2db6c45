// What reports and the recommender read: the stored cells of a study folded over repeats
// (medians, with the spread), per task and per configuration, and each configuration against
// the baseline precision (the research's columns: energy reduction %, accuracy loss in points,
// EOR improvement %). Every figure comes from stored measurements; where energy was not
// measured the energy figures are absent, never zero, and sources are kept, never mixed silently.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "metrics/paired.h"
#include "study/results_db.h"

namespace joule::report {

// One (configuration, task) over its repeats.
struct TaskSummary {
  std::string model, precision, device, task, metric;
  int threads = 0;
  int repeats = 0;
  int items = 0;
  double score = 0;  // median over repeats, fraction
  double score_min = 0, score_max = 0;
  double score_stderr = 0;  // of the median repeat's items
  double seconds = 0;       // median
  int64_t tokens = 0;
  std::optional<double> energy_j;  // median over repeats; absent if any repeat lacks energy
  double energy_j_min = 0, energy_j_max = 0;
  std::string energy_source;  // the sources of its repeats ("cpu estimated"); "mixed: a | b" if they differ
  std::optional<double> avg_power_w, peak_power_w;  // median / largest over repeats
  std::vector<metrics::ItemOutcome> item_outcomes;  // the median repeat's; empty for cells stored before schema 2
};

// A configuration (model, precision, device, threads) over its tasks.
struct ConfigSummary {
  std::string model, precision, device;
  int threads = 0;
  std::vector<TaskSummary> tasks;
  double score = 0;  // mean of the tasks' scores (each task weighs the same)
  double seconds = 0;
  int64_t tokens = 0;
  std::optional<double> energy_j;  // sum over tasks; absent if any task lacks energy
  std::string energy_source;
  std::optional<double> avg_power_w;  // energy / time
  std::optional<double> peak_power_w;

  std::string name() const;  // "precision @ device/threads" ("int4 @ cpu/2")
  std::optional<double> eor() const;       // score / Wh
  std::optional<double> tweor() const;     // score / (Wh x s)
  std::optional<double> j_per_token() const;
  double tokens_per_s() const;
  double latency_ms_per_token() const;     // 1000 / tokens_per_s
};

// A configuration against the baseline precision of the same model, device and threads (on the
// tasks both have). Absent fields: no baseline, or energy not measured on one side.
// The configuration minus the baseline on one task, item by item (metrics/paired.h).
struct TaskDelta {
  std::string task;
  std::optional<metrics::PairedDifference> paired;  // absent: a side has no item outcomes, or none pair up
};

struct Comparison {
  int config = -1;    // index into Summary::configs
  int baseline = -1;  // index of the baseline configuration; -1 if none was measured
  std::optional<double> energy_reduction_pct;  // 100 * (1 - E / E_base)
  std::optional<double> accuracy_loss_pts;     // 100 * (score_base - score)
  std::optional<double> accuracy_retention;    // score / score_base
  std::optional<double> eor_improvement_pct;   // 100 * (EOR / EOR_base - 1)
  bool same_energy_source = true;              // false: the two energies come from different sources
  // The accuracy loss's interval, in points, when every common task has paired item outcomes: the
  // mean over tasks of the per-task paired differences, whose variance is the sum of the tasks'
  // squared standard errors over T^2 (the tasks' items are different items).
  std::vector<TaskDelta> task_deltas;
  std::optional<double> accuracy_loss_low_pts, accuracy_loss_high_pts;
  // The interval lies on one side of 0: the loss (or gain) is distinguishable from noise.
  bool accuracy_loss_distinguishable() const {
    return accuracy_loss_low_pts && (*accuracy_loss_low_pts > 0 || *accuracy_loss_high_pts < 0);
  }
};

struct Summary {
  std::string baseline;  // the precision compared against
  double confidence = 0.95;  // of the intervals
  std::vector<ConfigSummary> configs;  // in the order their first cells were stored
  std::vector<Comparison> comparisons;  // one per config, same order
};

// Folds the cells; `baseline` empty = the precision of the first stored cell.
Summary summarize(const std::vector<study::CellRow>& cells, std::string baseline, double confidence = 0.95);

}  // namespace joule::report
