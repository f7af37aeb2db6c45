#include "recommend/recommend.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"
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

// Everything said about a limit, in one row per Limit (in enum order): its JSON name, its flag,
// and how its figures are printed.
struct LimitInfo {
  Limit limit;
  const char* name;
  const char* flag;
  const char* fmt;
  int decimals;
  bool is_minimum;  // a floor (retention) rather than a ceiling
};
constexpr LimitInfo kLimits[] = {
    {Limit::kMinAccuracyRetention, "min_accuracy_retention", "--min-accuracy-retention", "%.3f", 3, true},
    {Limit::kMaxLatencyMs, "max_latency_ms", "--max-latency-ms", "%.2f ms/token", 2, false},
    {Limit::kMaxPowerW, "max_power_w", "--max-power-w", "%.1f W", 1, false},
    {Limit::kEnergyForPriority, "priority", "--priority", "%g", 6, false},
    {Limit::kAllTasks, "all_tasks", "", "%g", 0, false},
};
const LimitInfo& info(Limit l) {
  const LimitInfo& i = kLimits[static_cast<size_t>(l)];
  JOULE_CHECK(i.limit == l);
  return i;
}

// A value to pass to the flag that admits `v`: rounded outward at the printed precision, so the
// printed suggestion really admits the configuration (14.23 W prints as 14.3 W, not 14.2 W).
double admitting(Limit l, double v) {
  const LimitInfo& f = info(l);
  const double scale = std::pow(10.0, f.decimals), eps = 1e-9;
  return f.is_minimum ? std::floor(v * scale + eps) / scale : std::ceil(v * scale - eps) / scale;
}

std::string show(Limit l, double v) { return format_number(info(l).fmt, v); }

std::string confidence_text(double confidence) { return format_number("%g %%", 100 * confidence); }

// "0.962 (95 % interval 0.950 to 0.974)"; the point estimate alone without item outcomes.
std::string retention_text(const report::Comparison& c) {
  std::string s = show(Limit::kMinAccuracyRetention, *c.accuracy_retention);
  if (c.retention_low())
    s += " (" + confidence_text(c.paired->confidence) + " interval " + show(Limit::kMinAccuracyRetention, *c.retention_low()) +
         " to " + show(Limit::kMinAccuracyRetention, *c.retention_high()) + ")";
  return s;
}

constexpr const char* kPointEstimate = "no item outcomes: judged on the point estimate";

// "-0.40 ± 0.52 pts vs f32 (not distinguishable from 0)"; the point difference alone without item
// outcomes; "" for the baseline itself.
std::string difference_text(const report::Comparison& c, const std::string& baseline) {
  if (c.paired)
    return format_number("%+.2f", c.paired->mean_pts) + " ± " + format_number("%.2f", (c.paired->high_pts - c.paired->low_pts) / 2) +
           " pts vs " + baseline + (c.paired->includes_zero() ? " (not distinguishable from 0)" : " (distinguishable from 0)");
  if (c.accuracy_loss_pts && c.baseline != c.config)
    return format_number("%+.2f", -*c.accuracy_loss_pts) + " pts vs " + baseline + " (no item data for an interval)";
  return "";
}

// The numbers a configuration is judged by, as one line.
std::string numbers(const report::ConfigSummary& k, const report::Comparison& c, const std::string& baseline) {
  std::string s = "accuracy " + format_number("%.2f %%", 100 * k.score);
  if (const std::string d = difference_text(c, baseline); !d.empty()) s += ", " + d;
  if (c.accuracy_retention) s += ", retention " + retention_text(c);
  s += ", " + format_number("%.2f ms/token", k.latency_ms_per_token());
  if (k.j_per_token()) s += ", " + format_number("%.4f J/token", *k.j_per_token());
  if (k.avg_power_w) s += ", " + format_number("%.1f W", *k.avg_power_w);
  if (k.eor()) s += ", EOR " + format_number("%.2f", *k.eor());
  if (c.eor_improvement_pct) s += " (" + format_number("%+.1f %%", *c.eor_improvement_pct) + " vs " + baseline + ")";
  if (!k.energy_source.empty()) s += "; energy " + k.energy_source;
  return s;
}

constexpr const char* kEstimatedNote = "estimated, not measured";

std::optional<double> latency_ms(const report::ConfigSummary& k) {
  if (k.tokens_per_s() <= 0) return std::nullopt;  // nothing timed: 0 ms/token would pass any limit
  return k.latency_ms_per_token();
}

// The constraints `k` fails, in the order of the flags. All are checked, not only the first, so
// a rejected configuration carries everything it would take to admit it.
std::vector<Failure> failures(const report::ConfigSummary& k, const report::Comparison& cmp, const Constraints& c,
                              const std::string& baseline) {
  std::vector<Failure> out;
  auto add = [&](Limit l, std::optional<double> value, std::optional<double> threshold, std::string why) {
    Failure f{l, value, threshold, false, std::move(why)};
    f.estimated = l == Limit::kMaxPowerW && energy_source_kind(k.energy_source) == "estimated";
    if (f.estimated) f.why += " (" + std::string(kEstimatedNote) + ": energy source " + k.energy_source + ")";
    out.push_back(std::move(f));
  };
  if (const auto& min = c.min_accuracy_retention) {
    const auto& v = cmp.accuracy_retention;
    if (!v)
      add(Limit::kMinAccuracyRetention, v, min, "no " + baseline + " run of the same model and device to compare its accuracy with");
    else if (const std::optional<double> low = cmp.retention_low()) {
      if (*cmp.retention_high() < *min)
        add(Limit::kMinAccuracyRetention, low, min,
            "accuracy retention " + retention_text(cmp) + " lies below " + show(Limit::kMinAccuracyRetention, *min));
    } else if (*v < *min)
      add(Limit::kMinAccuracyRetention, v, min,
          "accuracy retention " + show(Limit::kMinAccuracyRetention, *v) + " < " + show(Limit::kMinAccuracyRetention, *min) +
              " (" + kPointEstimate + ")");
  }
  if (const auto& max = c.max_latency_ms) {
    const std::optional<double> v = latency_ms(k);
    if (!v)
      add(Limit::kMaxLatencyMs, v, max, "its latency was not measured (no timed tokens)");
    else if (*v > *max)
      add(Limit::kMaxLatencyMs, v, max, "latency " + show(Limit::kMaxLatencyMs, *v) + " > " + show(Limit::kMaxLatencyMs, *max));
  }
  if (const auto& max = c.max_power_w) {
    const auto& v = k.avg_power_w;
    if (!v)
      add(Limit::kMaxPowerW, v, max, "its power was not measured");
    else if (*v > *max)
      add(Limit::kMaxPowerW, v, max, "average power " + show(Limit::kMaxPowerW, *v) + " > " + show(Limit::kMaxPowerW, *max));
  }
  if (!k.missing_tasks.empty())
    add(Limit::kAllTasks, std::nullopt, std::nullopt,
        "it ran " + join(k.task_names(), ", ") + " but not " + join(k.missing_tasks, ", ") +
            ", so its accuracy and energy do not compare with the others' (see the report's per-task table)");
  if ((c.priority == Priority::kEnergy || c.priority == Priority::kBalanced) && !k.energy_j)
    add(Limit::kEnergyForPriority, std::nullopt, std::nullopt,
        "its energy was not measured (priority " + std::string(priority_name(c.priority)) + " needs it)");
  return out;
}

nlohmann::json opt_json(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

nlohmann::json config_json(const report::ConfigSummary& k) {
  return {{"name", k.name()}, {"model", k.model}, {"precision", k.precision}, {"device", k.device}, {"threads", k.threads}};
}

}  // namespace

const char* limit_name(Limit l) { return info(l).name; }
const char* limit_flag(Limit l) { return info(l).flag; }

std::optional<double> Failure::off_by() const {
  if (!value || !threshold) return std::nullopt;
  return std::abs(*value - *threshold);
}

std::optional<double> Failure::off_by_fraction() const {
  const std::optional<double> d = off_by();
  if (!d) return std::nullopt;
  return *threshold != 0 ? *d / std::abs(*threshold) : std::numeric_limits<double>::infinity();
}

std::optional<Relaxation> nearest_relaxation(const std::vector<Candidate>& rejected) {
  std::optional<Relaxation> best;
  for (const Candidate& c : rejected) {
    if (c.failures.empty()) continue;
    Relaxation r;
    r.config = c.config;
    r.changes = c.failures;
    bool numeric = true;
    for (const Failure& f : c.failures) {
      numeric = numeric && f.off_by().has_value();
      if (numeric) r.fraction += *f.off_by_fraction();
    }
    if (!numeric) continue;
    const bool better = !best || r.changes.size() < best->changes.size() ||
                        (r.changes.size() == best->changes.size() && r.fraction < best->fraction);
    if (better) best = std::move(r);
  }
  return best;
}

std::string Relaxation::text(const report::Summary& s) const {
  const report::ConfigSummary& k = s.configs[static_cast<size_t>(config)];
  std::string out = "relaxing ";
  bool estimated = false;
  for (size_t i = 0; i < changes.size(); ++i) {
    const Failure& f = changes[i];
    const double signed_pct = 100 * (*f.value - *f.threshold) / std::abs(*f.threshold);
    out += (i == 0 ? "" : " and ") + std::string(limit_flag(f.limit)) + " from " + show(f.limit, *f.threshold) + " to " +
           show(f.limit, admitting(f.limit, *f.value)) + " (" + format_number("%+.1f %%", signed_pct) + ")";
    estimated = estimated || f.estimated;
  }
  out += " would admit " + k.name() + " (" + k.model + ")";
  if (estimated) out += "; its average power is " + std::string(kEstimatedNote) + " (energy source " + k.energy_source + ")";
  return out;
}

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

namespace {

// Under priority accuracy, accuracies the items cannot tell apart are no difference: from the most
// accurate configuration left, it and every one left whose paired interval against it includes 0
// form a group ordered by energy (least first); groups follow in accuracy order. Grouping around
// each group's top keeps the order well defined, as "indistinguishable" is not transitive.
void break_accuracy_ties(const report::Summary& s, std::vector<Candidate>& ranked) {
  auto cfg = [&](const Candidate& x) -> const report::ConfigSummary& { return s.configs[static_cast<size_t>(x.config)]; };
  std::vector<Candidate> out;
  while (!ranked.empty()) {
    const Candidate top = ranked.front();
    std::vector<Candidate> group, rest;
    std::vector<std::optional<report::MeanPairedDelta>> deltas;
    for (const Candidate& x : ranked) {
      const auto d = report::compare_items(cfg(top), cfg(x), s.confidence).mean;
      const bool tie = x.config == top.config || (d && d->includes_zero());
      (tie ? group : rest).push_back(x);
      if (tie) deltas.push_back(x.config == top.config ? std::nullopt : d);
    }
    std::vector<size_t> order(group.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto &x = cfg(group[a]).energy_j, &y = cfg(group[b]).energy_j;
      return x && (!y || *x < *y);
    });
    for (size_t i : order) {
      Candidate c = group[i];
      if (i == order.front() && i != 0) {  // group[0] is the top; a less accurate one leads
        const report::MeanPairedDelta& d = *deltas[i];
        c.tie_note = "accuracy indistinguishable from " + cfg(top).name() + "'s (" + format_number("%+.2f", d.mean_pts) +
                     " pts, " + confidence_text(d.confidence) + " interval " + format_number("%+.2f", d.low_pts) + " to " +
                     format_number("%+.2f", d.high_pts) + " on " + std::to_string(d.items) +
                     " paired items), so less energy ranks it first";
        c.why += "; " + c.tie_note;
      }
      out.push_back(std::move(c));
    }
    ranked = std::move(rest);
  }
  ranked = std::move(out);
}

}  // namespace

Recommendation recommend(const report::Summary& s, const Constraints& c) {
  Recommendation r;
  r.constraints = c;
  r.confidence = s.confidence;
  for (const report::Comparison& cmp : s.comparisons) {
    const report::ConfigSummary& k = s.configs[static_cast<size_t>(cmp.config)];
    Candidate cand;
    cand.config = cmp.config;
    cand.failures = failures(k, cmp, c, s.baseline);
    const std::optional<double> low = cmp.retention_low();
    const auto& min = c.min_accuracy_retention;
    cand.undecided = cand.failures.empty() && min && low && *low < *min;
    cand.qualifies = cand.failures.empty() && !cand.undecided;
    if (cand.qualifies) {
      cand.why = numbers(k, cmp, s.baseline);
      if (min && !low && cmp.baseline != cmp.config) cand.why += std::string(" (retention: ") + kPointEstimate + ")";
    }
    if (cand.undecided) {
      // The limit in points of difference from the baseline: retention = 1 + difference / score.
      cand.items_to_decide = cmp.paired->items_to_decide(100 * cmp.baseline_score * (*min - 1));
      cand.why = "accuracy retention " + retention_text(cmp) + " straddles " + show(Limit::kMinAccuracyRetention, *min) +
                 ": evaluate more items (" +
                 (cand.items_to_decide < 0 ? std::string("its retention sits on the limit")
                                           : "about " + std::to_string(cand.items_to_decide) +
                                                 " paired items in all would decide it at the observed flip rate") +
                 "; " + std::to_string(cmp.paired->items) + " now)";
    }
    for (const Failure& f : cand.failures) cand.why += (cand.why.empty() ? "" : "; ") + f.why;
    (cand.qualifies ? r.ranked : cand.undecided ? r.undecided : r.rejected).push_back(cand);
  }
  auto cfg = [&](const Candidate& x) -> const report::ConfigSummary& { return s.configs[static_cast<size_t>(x.config)]; };
  constexpr double kNever = std::numeric_limits<double>::infinity();
  std::stable_sort(r.ranked.begin(), r.ranked.end(), [&](const Candidate& a, const Candidate& b) {
    const report::ConfigSummary &x = cfg(a), &y = cfg(b);
    switch (c.priority) {
      case Priority::kAccuracy:
        return x.score != y.score ? x.score > y.score : x.eor().value_or(0) > y.eor().value_or(0);
      case Priority::kEnergy:
        return *x.energy_j < *y.energy_j;
      case Priority::kLatency:
        return latency_ms(x).value_or(kNever) < latency_ms(y).value_or(kNever);
      case Priority::kBalanced:
        return *x.tweor() > *y.tweor();
    }
    return false;
  });
  if (c.priority == Priority::kAccuracy) break_accuracy_ties(s, r.ranked);
  if (r.ranked.empty()) r.nearest = nearest_relaxation(r.rejected);
  return r;
}

std::string Recommendation::text(const report::Summary& s) const {
  std::string cons;
  if (constraints.min_accuracy_retention)
    cons += "accuracy retention >= " + format_number("%.3f", *constraints.min_accuracy_retention) + " (judged on " +
            confidence_text(confidence) + " intervals where items were kept)";
  if (constraints.max_latency_ms) cons += (cons.empty() ? "" : ", ") + std::string("latency <= ") + format_number("%.2f", *constraints.max_latency_ms) + " ms/token";
  if (constraints.max_power_w) cons += (cons.empty() ? "" : ", ") + std::string("average power <= ") + format_number("%.1f", *constraints.max_power_w) + " W";
  if (cons.empty()) cons = "none";
  std::string out = "Constraints: " + cons + "; priority: " + priority_name(constraints.priority) + "; baseline: " + s.baseline + ".\n";
  auto name = [&](const Candidate& c) {
    const report::ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    return k.name() + " (" + k.model + ")";
  };
  if (ranked.empty()) {
    out += "No measured configuration meets these constraints" +
           (undecided.empty() ? std::string(".\n") : " for certain; more items would decide those marked undecided.\n");
    if (nearest)
      out += "Nearest: " + nearest->text(s) + ".\n";
    else if (!rejected.empty())
      out += "No change of the numeric limits alone admits any: each is left out for a missing measurement.\n";
  } else {
    out += "Recommended: " + name(ranked[0]) + ": " + ranked[0].why + ".\n";
    for (size_t i = 1; i < ranked.size(); ++i) out += "  " + std::to_string(i + 1) + ". " + name(ranked[i]) + ": " + ranked[i].why + "\n";
  }
  for (const Candidate& c : undecided) out += "  undecided: " + name(c) + ": " + c.why + "\n";
  for (const Candidate& c : rejected) out += "  left out: " + name(c) + ": " + c.why + "\n";
  return out;
}

std::string Recommendation::verdict(const report::Summary& s) const {
  std::string out;
  if (ranked.empty()) {
    out = "none qualifies";
    if (!undecided.empty()) out += "; " + std::to_string(undecided.size()) + " undecided (evaluate more items)";
    if (nearest) out += "; " + nearest->text(s);
    return out + ".";
  }
  const Candidate& best = ranked[0];
  const report::ConfigSummary& k = s.configs[static_cast<size_t>(best.config)];
  const report::Comparison& cmp = s.comparisons[static_cast<size_t>(best.config)];
  out = k.name() + " (" + k.model + "): accuracy " + format_number("%.2f %%", 100 * k.score);
  if (const std::string d = difference_text(cmp, s.baseline); !d.empty()) out += ", " + d;
  if (k.j_per_token()) out += ", " + format_number("%.4g J/token", *k.j_per_token()) + " (" + energy_source_kind(k.energy_source) + ")";
  if (cmp.energy_reduction_pct && cmp.baseline != cmp.config)
    out += ", " + format_number("%.1f %%", std::abs(*cmp.energy_reduction_pct)) +
           (*cmp.energy_reduction_pct >= 0 ? " less" : " more") + " energy than " + s.baseline;
  out += ", " + format_number("%.3g ms/token", k.latency_ms_per_token());
  if (!best.tie_note.empty()) out += "; " + best.tie_note;
  const size_t more = ranked.size() - 1;
  if (more) out += "; " + std::to_string(more) + " more qualif" + (more == 1 ? "ies" : "y");
  if (!undecided.empty()) out += "; " + std::to_string(undecided.size()) + " undecided";
  return out + ".";
}

std::vector<std::pair<std::string, std::string>> scenario_verdicts(const report::Summary& s) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Scenario& sc : scenarios())
    out.emplace_back(std::string(sc.name) + " (" + sc.description + ")", recommend(s, sc.constraints).verdict(s));
  return out;
}

nlohmann::json Recommendation::json(const report::Summary& s) const {
  auto list = [&](const std::vector<Candidate>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const Candidate& x : v) {
      const report::ConfigSummary& k = s.configs[static_cast<size_t>(x.config)];
      const report::Comparison& cmp = s.comparisons[static_cast<size_t>(x.config)];
      nlohmann::json failed = nlohmann::json::array();
      for (const Failure& f : x.failures)
        failed.push_back({{"constraint", limit_name(f.limit)}, {"value", opt_json(f.value)}, {"limit", opt_json(f.threshold)},
                          {"off_by", opt_json(f.off_by())}, {"off_by_fraction", opt_json(f.off_by_fraction())},
                          {"estimated", f.estimated}, {"why", f.why}});
      nlohmann::json j = config_json(k);
      j.update({{"why", x.why},
                {"accuracy", k.score},
                {"accuracy_retention", opt_json(cmp.accuracy_retention)},
                {"accuracy_retention_interval", cmp.retention_low()
                                                    ? nlohmann::json::array({*cmp.retention_low(), *cmp.retention_high()})
                                                    : nlohmann::json(nullptr)},
                {"items_to_decide", x.undecided && x.items_to_decide >= 0 ? nlohmann::json(x.items_to_decide) : nlohmann::json(nullptr)},
                {"tie_note", x.tie_note},
                {"j_per_token", opt_json(k.j_per_token())},
                {"avg_power_w", opt_json(k.avg_power_w)},
                {"ms_per_token", opt_json(latency_ms(k))},
                {"energy_source", k.energy_source},
                {"energy_source_kind", energy_source_kind(k.energy_source)},
                {"failed", failed}});
      a.push_back(j);
    }
    return a;
  };
  nlohmann::json relax = nullptr;
  if (nearest) {
    relax = config_json(s.configs[static_cast<size_t>(nearest->config)]);
    nlohmann::json changes = nlohmann::json::array();
    for (const Failure& f : nearest->changes)
      changes.push_back({{"constraint", limit_name(f.limit)}, {"flag", limit_flag(f.limit)}, {"from", *f.threshold},
                         {"to", *f.value}, {"fraction", *f.off_by_fraction()}, {"estimated", f.estimated}});
    relax.update({{"changes", changes}, {"fraction", nearest->fraction}, {"text", nearest->text(s)}});
  }
  return {{"constraints",
           {{"min_accuracy_retention", opt_json(constraints.min_accuracy_retention)},
            {"max_latency_ms", opt_json(constraints.max_latency_ms)},
            {"max_power_w", opt_json(constraints.max_power_w)},
            {"priority", priority_name(constraints.priority)}}},
          {"baseline", s.baseline},
          {"any_qualifies", !ranked.empty()},
          {"confidence", confidence},
          {"recommended", list(ranked)},
          {"undecided", list(undecided)},
          {"rejected", list(rejected)},
          {"nearest_relaxation", relax}};
}

}  // namespace joule::recommend
