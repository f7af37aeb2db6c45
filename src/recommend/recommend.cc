#include "recommend/recommend.h"

#include <algorithm>
#include <cstdio>

#include "core/strings.h"

namespace joule::recommend {
namespace {

Constraints preset(std::optional<double> retention, std::optional<double> latency_ms, std::optional<double> power_w,
                   Priority p) {
  Constraints c;
  c.min_accuracy_retention = retention;
  c.max_latency_ms = latency_ms;
  c.max_power_w = power_w;
  c.priority = p;
  return c;
}

// The numbers a configuration is judged by, as one line.
std::string numbers(const report::ConfigSummary& k, const report::Comparison& c, const std::string& baseline) {
  std::string s = "accuracy " + format_number("%.2f %%", 100 * k.score);
  if (c.accuracy_retention) s += " (retention " + format_number("%.3f", *c.accuracy_retention) + " of " + baseline + ")";
  s += ", " + format_number("%.2f ms/token", k.latency_ms_per_token());
  if (k.j_per_token()) s += ", " + format_number("%.4f J/token", *k.j_per_token());
  if (k.avg_power_w) s += ", " + format_number("%.1f W", *k.avg_power_w);
  if (k.eor()) s += ", EOR " + format_number("%.2f", *k.eor());
  if (c.eor_improvement_pct) s += " (" + format_number("%+.1f %%", *c.eor_improvement_pct) + " vs " + baseline + ")";
  if (!k.energy_source.empty()) s += "; energy " + k.energy_source;
  return s;
}

}  // namespace

Expected<Priority> parse_priority(const std::string& name) {
  if (name == "accuracy") return Priority::kAccuracy;
  if (name == "energy") return Priority::kEnergy;
  if (name == "latency") return Priority::kLatency;
  if (name == "balanced") return Priority::kBalanced;
  return InvalidArgument("--priority '" + name + "' is not accuracy, energy, latency or balanced");
}

const char* priority_name(Priority p) {
  switch (p) {
    case Priority::kAccuracy: return "accuracy";
    case Priority::kEnergy: return "energy";
    case Priority::kLatency: return "latency";
    case Priority::kBalanced: return "balanced";
  }
  return "?";
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> s = {
      {"datacenter", "shared serving: keep 98 % of the baseline's accuracy, best accuracy x energy x time (TWEOR)",
       preset(0.98, std::nullopt, std::nullopt, Priority::kBalanced)},
      {"enterprise", "business answers: keep 99 % of the accuracy, then the most accurate",
       preset(0.99, std::nullopt, std::nullopt, Priority::kAccuracy)},
      {"research", "measurements that must match the baseline: keep 99.5 %, then the most accurate",
       preset(0.995, std::nullopt, std::nullopt, Priority::kAccuracy)},
      {"edge", "battery or passive cooling: keep 95 %, at most 15 W average, then the least energy",
       preset(0.95, std::nullopt, 15.0, Priority::kEnergy)},
      {"budget", "cheapest acceptable: keep 95 %, then the least energy",
       preset(0.95, std::nullopt, std::nullopt, Priority::kEnergy)},
  };
  return s;
}

Expected<Constraints> scenario_constraints(const std::string& name, const Constraints& overrides, bool priority_given) {
  for (const Scenario& sc : scenarios()) {
    if (name != sc.name) continue;
    Constraints c = sc.constraints;
    if (overrides.min_accuracy_retention) c.min_accuracy_retention = overrides.min_accuracy_retention;
    if (overrides.max_latency_ms) c.max_latency_ms = overrides.max_latency_ms;
    if (overrides.max_power_w) c.max_power_w = overrides.max_power_w;
    if (priority_given) c.priority = overrides.priority;
    return c;
  }
  std::string names;
  for (const Scenario& sc : scenarios()) names += (names.empty() ? "" : ", ") + std::string(sc.name);
  return InvalidArgument("--scenario '" + name + "' is not one of " + names);
}

Recommendation recommend(const report::Summary& s, const Constraints& c) {
  Recommendation r;
  r.constraints = c;
  for (const report::Comparison& cmp : s.comparisons) {
    const report::ConfigSummary& k = s.configs[static_cast<size_t>(cmp.config)];
    Candidate cand;
    cand.config = cmp.config;
    std::string fail;
    if (c.min_accuracy_retention) {
      if (!cmp.accuracy_retention)
        fail = "no " + s.baseline + " run of the same model and device to compare its accuracy with";
      else if (*cmp.accuracy_retention < *c.min_accuracy_retention)
        fail = "accuracy retention " + format_number("%.3f", *cmp.accuracy_retention) + " < " + format_number("%.3f", *c.min_accuracy_retention);
    }
    if (fail.empty() && c.max_latency_ms && k.latency_ms_per_token() > *c.max_latency_ms)
      fail = "latency " + format_number("%.2f", k.latency_ms_per_token()) + " ms/token > " + format_number("%.2f", *c.max_latency_ms);
    if (fail.empty() && c.max_power_w) {
      if (!k.avg_power_w)
        fail = "its power was not measured";
      else if (*k.avg_power_w > *c.max_power_w)
        fail = "average power " + format_number("%.1f", *k.avg_power_w) + " W > " + format_number("%.1f", *c.max_power_w) + " W";
    }
    if (fail.empty() && (c.priority == Priority::kEnergy || c.priority == Priority::kBalanced) && !k.energy_j)
      fail = "its energy was not measured (priority " + std::string(priority_name(c.priority)) + " needs it)";
    cand.qualifies = fail.empty();
    cand.why = fail.empty() ? numbers(k, cmp, s.baseline) : fail;
    (cand.qualifies ? r.ranked : r.rejected).push_back(cand);
  }
  auto cfg = [&](const Candidate& x) -> const report::ConfigSummary& { return s.configs[static_cast<size_t>(x.config)]; };
  std::stable_sort(r.ranked.begin(), r.ranked.end(), [&](const Candidate& a, const Candidate& b) {
    const report::ConfigSummary &x = cfg(a), &y = cfg(b);
    switch (c.priority) {
      case Priority::kAccuracy:
        return x.score != y.score ? x.score > y.score : x.eor().value_or(0) > y.eor().value_or(0);
      case Priority::kEnergy:
        return *x.energy_j < *y.energy_j;
      case Priority::kLatency:
        return x.latency_ms_per_token() < y.latency_ms_per_token();
      case Priority::kBalanced:
        return *x.tweor() > *y.tweor();
    }
    return false;
  });
  return r;
}

std::string Recommendation::text(const report::Summary& s) const {
  std::string cons;
  if (constraints.min_accuracy_retention) cons += "accuracy retention >= " + format_number("%.3f", *constraints.min_accuracy_retention);
  if (constraints.max_latency_ms) cons += (cons.empty() ? "" : ", ") + std::string("latency <= ") + format_number("%.2f", *constraints.max_latency_ms) + " ms/token";
  if (constraints.max_power_w) cons += (cons.empty() ? "" : ", ") + std::string("average power <= ") + format_number("%.1f", *constraints.max_power_w) + " W";
  if (cons.empty()) cons = "none";
  std::string out = "Constraints: " + cons + "; priority: " + priority_name(constraints.priority) + "; baseline: " + s.baseline + ".\n";
  auto name = [&](const Candidate& c) {
    const report::ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    return k.name() + " (" + k.model + ")";
  };
  if (ranked.empty()) {
    out += "No measured configuration meets these constraints.\n";
  } else {
    out += "Recommended: " + name(ranked[0]) + ": " + ranked[0].why + ".\n";
    for (size_t i = 1; i < ranked.size(); ++i) out += "  " + std::to_string(i + 1) + ". " + name(ranked[i]) + ": " + ranked[i].why + "\n";
  }
  for (const Candidate& c : rejected) out += "  left out: " + name(c) + ": " + c.why + "\n";
  return out;
}

}  // namespace joule::recommend
