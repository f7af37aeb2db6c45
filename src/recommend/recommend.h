// Picks configurations from measured data: those meeting the constraints, ranked by a priority,
// each explained with its numbers; the rest with every constraint they fail and by how much.
// When none qualifies, the smallest relaxation of the limits that would admit one is computed
// from the same numbers. Scenarios are named presets of constraints (docs/studies.md), never
// fixed answers.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "report/summary.h"

namespace joule::recommend {

enum class Priority { kAccuracy, kEnergy, kLatency, kBalanced };
Expected<Priority> parse_priority(const std::string& name);
const char* priority_name(Priority p);

struct Constraints {
  std::optional<double> min_accuracy_retention;  // score / baseline score on the same tasks
  std::optional<double> max_latency_ms;          // per processed token
  std::optional<double> max_power_w;             // average over the configuration's runs
  Priority priority = Priority::kBalanced;
};

struct Scenario {
  const char* name;
  const char* description;
  Constraints constraints;
};
const std::vector<Scenario>& scenarios();
// The preset's constraints; fields set in `overrides` win.
Expected<Constraints> scenario_constraints(const std::string& name, const Constraints& overrides, bool priority_given);

using report::energy_source_kind;

// kAllTasks: the configuration ran fewer tasks than others (an engine given some of them), so its
// accuracy and energy cannot be ranked against theirs; no limit admits it.
enum class Limit { kMinAccuracyRetention, kMaxLatencyMs, kMaxPowerW, kEnergyForPriority, kAllTasks };
const char* limit_name(Limit l);  // as in the JSON's constraints: "max_power_w"; "priority"; "all_tasks"
const char* limit_flag(Limit l);  // "--max-power-w"; "--priority"

// One constraint a configuration fails.
struct Failure {
  Limit limit = Limit::kMinAccuracyRetention;
  // The configuration's figure; absent when it was not measured. For accuracy retention with item
  // outcomes, the interval's lower end: the figure a limit must admit for it to "meet" at the
  // summary's confidence.
  std::optional<double> value;
  std::optional<double> threshold;  // the constraint's limit; absent for kEnergyForPriority
  bool estimated = false;           // `value` comes from an energy estimate, not a sensor
  std::string why;
  // How far `value` is on the wrong side of `threshold` (absolute, and relative to the
  // threshold); absent when there is no number to move the limit to.
  std::optional<double> off_by() const;
  std::optional<double> off_by_fraction() const;
};

struct Candidate {
  int config = -1;  // index into Summary::configs
  bool qualifies = false;
  std::string why;                 // the numbers that qualify it, or its failures joined
  std::vector<Failure> failures;   // every constraint it fails; empty when it qualifies
  // Meets every other constraint, but its accuracy retention's interval straddles the limit: more
  // items would decide it. `items_to_decide`: paired items in all at the observed flip rate (-1:
  // the retention sits on the limit).
  bool undecided = false;
  int items_to_decide = -1;
  // Set on a configuration ranked above a more accurate one whose accuracy its items cannot tell
  // apart (priority accuracy falls back to energy), saying so with the numbers.
  std::string tie_note;
};

// The limits moved just far enough to admit one rejected configuration: each of its failures,
// from its threshold to its value.
struct Relaxation {
  int config = -1;
  std::vector<Failure> changes;
  double fraction = 0;  // sum of the changes' relative sizes
  std::string text(const report::Summary& s) const;  // "relaxing --max-power-w from 10.0 W to 14.3 W would admit ..."
};

// Among rejected configurations whose failures all have numbers (a missing measurement cannot
// be relaxed away), the one needing changes to the fewest constraints, then the smallest total
// relative change; ties go to the first.
std::optional<Relaxation> nearest_relaxation(const std::vector<Candidate>& rejected);

struct Recommendation {
  Constraints constraints;
  double confidence = 0.95;          // of the accuracy intervals the decisions used
  std::vector<Candidate> ranked;     // qualifying, best first
  std::vector<Candidate> undecided;  // retention interval straddles the limit; nothing else fails
  std::vector<Candidate> rejected;   // with reasons
  std::optional<Relaxation> nearest;  // only when none qualifies
  std::string text(const report::Summary& s) const;  // a readable answer, saying plainly when none qualifies
  // One sentence: the pick with its numbers and their uncertainty, or why there is none.
  std::string verdict(const report::Summary& s) const;
  // The constraints, and per candidate the measured numbers behind its decision.
  nlohmann::json json(const report::Summary& s) const;
};

// Accuracy retention is judged on its interval at the summary's confidence where every task has
// item outcomes: rejected only when the interval lies below the limit, "meets" only when it lies
// on or above it, undecided in between; on the point estimate otherwise (and the reason says so).
// Under priority accuracy, configurations whose accuracies are indistinguishable (their paired
// interval includes 0) are ordered by energy instead.
Recommendation recommend(const report::Summary& s, const Constraints& c);

// Each scenario, named with its constraints ("datacenter (shared serving: ...)"), and its verdict
// on `s` (for the top of a report).
std::vector<std::pair<std::string, std::string>> scenario_verdicts(const report::Summary& s);

}  // namespace joule::recommend
