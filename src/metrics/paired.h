// Two configurations evaluated on the same items, compared item by item (Miller 2024, "Adding
// Error Bars to Evals", arXiv 2411.00640, sections 2.2 and 4): the mean of the per-item
// differences, its standard error (clustered where items come in groups that are not independent,
// such as MMLU's subjects), a normal interval, and how many items changed each way. Because both
// scores move together on easy and hard items, the paired standard error is far smaller than
// either score's, which is what lets a precision's accuracy loss be told apart from noise.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace joule::metrics {

// One item's outcome under a task's headline metric, as an evaluation records it (and the results
// database stores it).
struct ItemOutcome {
  std::string id;       // the same item under every configuration (its index in the dataset file)
  double score = 0;     // 1 / 0 for a correct / wrong answer, or the per-item metric (MC2)
  std::string cluster;  // items of one cluster are correlated (an MMLU subject); "" = on its own
  int choice = -1;      // the answer picked (multiple choice); -1 for generation and MC2
  std::optional<double> margin;  // the pick's lead over the runner-up under the task's criterion
  // The score a uniformly random answer expects on this item: 1 / choices (multiple choice), true /
  // all choices (MC2), 0 (generation). Absent for items stored before schema 3.
  std::optional<double> chance;
};

struct PairedDifference {
  int n = 0;              // items both sides scored
  double mean_diff = 0;   // mean of (other - base), in score units (0..1)
  double std_err = 0;     // of mean_diff; clustered when any item names a cluster
  int clusters = 0;       // independent units behind std_err (n when unclustered)
  double confidence = 0;  // of the interval
  double ci_low = 0, ci_high = 0;
  int better = 0, worse = 0;  // items where other scored higher / lower than base

  bool includes_zero() const { return ci_low <= 0 && ci_high >= 0; }
};

// Items are matched by id; an id only one side has is left out (n says how many paired). Without
// clusters the standard error is the sample standard deviation of the differences over sqrt(n)
// (lm-evaluation-harness's mean_stderr); with clusters it is the cluster-robust
// sqrt(sum over clusters of (sum of d_i - mean)^2) / n. kInvalidArgument for fewer than 2 paired
// items, a repeated id on one side, or a confidence outside (0, 1).
Expected<PairedDifference> paired_difference(const std::vector<ItemOutcome>& base, const std::vector<ItemOutcome>& other,
                                             double confidence = 0.95);

// z such that a standard normal lies within [-z, z] with probability `confidence` (1.959964 for
// 0.95); confidence in (0, 1).
double normal_quantile_two_sided(double confidence);

// Items needed, at the observed per-item spread, for the interval of a mean measured on `n` items
// with standard error `std_err` to exclude `threshold` (the standard error shrinks as
// 1 / sqrt(n)); -1 where the mean sits on the threshold.
int items_to_decide(int n, double mean, double std_err, double confidence, double threshold);

}  // namespace joule::metrics
