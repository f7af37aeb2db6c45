// Picks configurations from measured data: those meeting the constraints, ranked by a priority,
// each explained with its numbers; the rest with the reason they were left out. Scenarios are
// named presets of constraints (docs/studies.md), never fixed answers.
#pragma once

#include <optional>
#include <string>
#include <vector>

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

struct Candidate {
  int config = -1;  // index into Summary::configs
  bool qualifies = false;
  std::string why;  // the numbers that qualify it, or the constraint it fails
};

struct Recommendation {
  Constraints constraints;
  std::vector<Candidate> ranked;    // qualifying, best first
  std::vector<Candidate> rejected;  // with reasons
  std::string text(const report::Summary& s) const;  // a readable answer, saying plainly when none qualifies
};

Recommendation recommend(const report::Summary& s, const Constraints& c);

}  // namespace joule::recommend
