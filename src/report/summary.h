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
  // What random answers score on these items (the mean of their chance scores); absent when an
  // item lacks one (stored before schema 3).
  std::optional<double> chance;
  // The score's interval (at the summary's confidence) reaches down to the chance level: the
  // configuration does no better than guessing on this task.
  bool at_chance = false;
  // Left out of the configuration's averages and totals (Summary::exclude_chance_tasks).
  bool left_out = false;
};

// Where a configuration ran: "cpu/2" (device / threads), or the device alone where no thread
// count applies (a GPU, an engine the study started).
std::string placement(const std::string& device, int threads);

// A configuration (model, precision, device, threads) over its tasks.
struct ConfigSummary {
  std::string model, precision, device;
  int threads = 0;
  std::vector<TaskSummary> tasks;  // every task, those left out of the figures below included
  // Tasks other configurations ran and this one did not (an engine given fewer tasks): its
  // figures below cover fewer tasks, so they are not comparable with theirs; per task they are.
  std::vector<std::string> missing_tasks;
  double score = 0;  // mean of the tasks' scores (each task weighs the same)
  double score_stderr = 0;  // of that mean: the tasks' standard errors combined, sqrt(sum se^2) / T
  double seconds = 0;
  int64_t tokens = 0;
  std::optional<double> energy_j;  // sum over tasks; absent if any task lacks energy
  double energy_j_min = 0, energy_j_max = 0;  // sums of the tasks' smallest and largest repeats
  int min_repeats = 0;  // the fewest repeats of any task: 1 = its energy has no spread estimate
  std::string energy_source;
  std::optional<double> avg_power_w;  // energy / time
  std::optional<double> peak_power_w;

  std::vector<std::string> task_names() const;  // of `tasks`, in order
  std::string name() const;  // "precision @ placement" ("int4 @ cpu/2", "fp8 @ vllm:gpu0")
  std::optional<double> eor() const;       // score / Wh
  std::optional<double> tweor() const;     // score / (Wh x s)
  std::optional<double> j_per_token() const;
  double tokens_per_s() const;
  double latency_ms_per_token() const;     // 1000 / tokens_per_s
};

// The configuration minus the baseline on one task, item by item (metrics/paired.h).
struct TaskDelta {
  std::string task;
  std::optional<metrics::PairedDifference> paired;  // absent: a side has no item outcomes, or none pair up
};

// The mean over tasks of the per-task paired differences (other - base), in accuracy points, with
// its interval. The tasks' items are different items, so the mean's variance is the sum of the
// tasks' squared standard errors over T^2.
struct MeanPairedDelta {
  double mean_pts = 0, std_err_pts = 0;
  double confidence = 0;
  double low_pts = 0, high_pts = 0;
  int items = 0;  // paired items over all tasks
  bool includes_zero() const { return low_pts <= 0 && high_pts >= 0; }
  // Paired items in all (spread over the tasks as now) for the interval to exclude
  // `threshold_pts`, at the observed spread; -1 where the mean sits on the threshold.
  int items_to_decide(double threshold_pts) const;
};

// `other`'s items against `base`'s on the tasks both have: per task, and the mean over them when
// every such task pairs up.
struct ItemComparison {
  std::vector<TaskDelta> tasks;
  std::optional<MeanPairedDelta> mean;
};
ItemComparison compare_items(const ConfigSummary& base, const ConfigSummary& other, double confidence);

// A configuration against the baseline precision of the same model, device and threads (on the
// tasks both have). Absent fields: no baseline, or energy not measured on one side.
struct Comparison {
  int config = -1;    // index into Summary::configs
  int baseline = -1;  // index of the baseline configuration; -1 if none was measured
  std::optional<double> energy_reduction_pct;  // 100 * (1 - E / E_base)
  std::optional<double> accuracy_loss_pts;     // 100 * (score_base - score)
  std::optional<double> accuracy_retention;    // score / score_base
  std::optional<double> eor_improvement_pct;   // 100 * (EOR / EOR_base - 1)
  bool same_energy_source = true;              // false: the two energies come from different sources
  // Item by item against the baseline; `paired` is the mean difference (configuration minus
  // baseline, so a loss is negative) when every common task has paired item outcomes.
  std::vector<TaskDelta> task_deltas;
  std::optional<MeanPairedDelta> paired;
  // The accuracy loss's interval in points (the negated difference's).
  std::optional<double> accuracy_loss_low_pts() const { return paired ? std::optional(-paired->high_pts) : std::nullopt; }
  std::optional<double> accuracy_loss_high_pts() const { return paired ? std::optional(-paired->low_pts) : std::nullopt; }
  // The interval lies on one side of 0: the loss (or gain) is distinguishable from noise.
  bool accuracy_loss_distinguishable() const { return paired && !paired->includes_zero(); }
  // The retention's interval: the baseline's score is the fixed reference the paired difference
  // is measured against, so retention = 1 + difference / baseline score.
  std::optional<double> retention_low() const;
  std::optional<double> retention_high() const;
  double baseline_score = 0;  // on the common tasks
};

struct Summary {
  std::string baseline;  // the precision compared against
  double confidence = 0.95;  // of the intervals
  // Tasks the baseline of a model scores at chance are left out of that model's averages, for
  // every precision (so that all compare on the same tasks).
  bool exclude_chance_tasks = false;
  std::vector<ConfigSummary> configs;  // in the order their first cells were stored
  std::vector<Comparison> comparisons;  // one per config, same order
  // Cells not measured because their engine failed (ResultsDb::failures; set by the caller).
  std::vector<study::CellFailure> failed;
};

// The kind of an energy source as the summary stores it ("cpu estimated", "package-0 counter,
// dram counter", "mixed: a | b"): "estimated" if any part is estimated, else "sampled" if any
// part is, else "counter"; "" when nothing measured energy. Energy-derived figures (J/token,
// average W) are only as good as their weakest part.
std::string energy_source_kind(const std::string& energy_source);

// Folds the cells; `baseline` empty = the precision of the first stored cell.
Summary summarize(const std::vector<study::CellRow>& cells, std::string baseline, double confidence = 0.95,
                  bool exclude_chance_tasks = false);

}  // namespace joule::report
