#include "report/summary.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "metrics/efficiency.h"
#include "metrics/stats.h"

namespace joule::report {
namespace {

std::string join_sources(const std::vector<std::string>& sources) {
  std::set<std::string> distinct(sources.begin(), sources.end());
  distinct.erase("");
  if (distinct.size() <= 1) return distinct.empty() ? "" : *distinct.begin();
  std::string out = "mixed: ";
  for (const std::string& s : distinct) out += (out.size() > 7 ? " | " : "") + s;
  return out;
}

// The mean chance score of the items, when every item has one.
std::optional<double> chance_of(const std::vector<metrics::ItemOutcome>& items) {
  if (items.empty()) return std::nullopt;
  double sum = 0;
  for (const metrics::ItemOutcome& x : items) {
    if (!x.chance) return std::nullopt;
    sum += *x.chance;
  }
  return sum / double(items.size());
}

TaskSummary fold_task(const std::vector<const study::CellRow*>& reps, double z) {
  const study::CellRow& first = *reps.front();
  TaskSummary t;
  t.model = first.model, t.precision = first.precision, t.device = first.device, t.task = first.task;
  t.threads = first.threads, t.metric = first.result.metric, t.items = first.result.items;
  t.repeats = static_cast<int>(reps.size());
  std::vector<double> score, seconds, energy, power;
  std::vector<std::string> sources;
  bool all_energy = true;
  for (const study::CellRow* c : reps) {
    const study::CellResult& r = c->result;
    score.push_back(r.score);
    seconds.push_back(r.seconds);
    sources.push_back(r.energy_source);
    if (r.energy_j) energy.push_back(*r.energy_j);
    all_energy = all_energy && r.energy_j.has_value();
    if (r.avg_power_w) power.push_back(*r.avg_power_w);
    if (r.peak_power_w) t.peak_power_w = std::max(t.peak_power_w.value_or(0), *r.peak_power_w);
  }
  t.score = metrics::median(score);
  t.score_min = *std::min_element(score.begin(), score.end());
  t.score_max = *std::max_element(score.begin(), score.end());
  // The stderr and tokens of the repeat whose score is closest to the median.
  const auto mid = std::min_element(reps.begin(), reps.end(), [&](const auto* a, const auto* b) {
    return std::abs(a->result.score - t.score) < std::abs(b->result.score - t.score);
  });
  t.score_stderr = (*mid)->result.score_stderr;
  t.tokens = (*mid)->result.tokens;
  t.item_outcomes = (*mid)->result.item_outcomes;
  t.chance = chance_of(t.item_outcomes);
  t.at_chance = t.chance && t.score - z * t.score_stderr <= *t.chance + 1e-12;
  t.seconds = metrics::median(seconds);
  if (all_energy && !energy.empty()) {
    t.energy_j = metrics::median(energy);
    t.energy_j_min = *std::min_element(energy.begin(), energy.end());
    t.energy_j_max = *std::max_element(energy.begin(), energy.end());
  }
  if (!power.empty()) t.avg_power_w = metrics::median(power);
  t.energy_source = join_sources(sources);
  return t;
}

// Mean score and total energy / time over the tasks of `c` named in `only` (all if empty).
struct Totals {
  double score = 0, seconds = 0;
  int64_t tokens = 0;
  std::optional<double> energy_j;
  int tasks = 0;
};
Totals totals(const ConfigSummary& c, const std::set<std::string>& only) {
  Totals t;
  bool all_energy = true;
  double energy = 0;
  for (const TaskSummary& ts : c.tasks) {
    if (ts.left_out || (!only.empty() && !only.count(ts.task))) continue;
    ++t.tasks;
    t.score += ts.score;
    t.seconds += ts.seconds;
    t.tokens += ts.tokens;
    if (ts.energy_j)
      energy += *ts.energy_j;
    else
      all_energy = false;
  }
  if (t.tasks > 0) t.score /= t.tasks;
  if (all_energy && t.tasks > 0) t.energy_j = energy;
  return t;
}

}  // namespace

std::vector<std::string> ConfigSummary::task_names() const {
  std::vector<std::string> out;
  for (const TaskSummary& t : tasks) out.push_back(t.task);
  return out;
}

int MeanPairedDelta::items_to_decide(double threshold_pts) const {
  return metrics::items_to_decide(items, mean_pts, std_err_pts, confidence, threshold_pts);
}

ItemComparison compare_items(const ConfigSummary& base, const ConfigSummary& other, double confidence) {
  ItemComparison out;
  double sum = 0, var = 0;
  int items = 0;
  bool complete = true;
  for (const TaskSummary& t : other.tasks) {
    const auto u = std::find_if(base.tasks.begin(), base.tasks.end(), [&](const TaskSummary& x) { return x.task == t.task; });
    if (u == base.tasks.end() || t.left_out || u->left_out) continue;
    TaskDelta d{t.task, std::nullopt};
    if (!t.item_outcomes.empty() && !u->item_outcomes.empty())
      if (auto p = metrics::paired_difference(u->item_outcomes, t.item_outcomes, confidence); p.ok()) d.paired = *p;
    if (d.paired) {
      sum += d.paired->mean_diff;
      var += d.paired->std_err * d.paired->std_err;
      items += d.paired->n;
    }
    complete = complete && d.paired.has_value();
    out.tasks.push_back(std::move(d));
  }
  if (!complete || out.tasks.empty()) return out;
  const double n = double(out.tasks.size());
  MeanPairedDelta m;
  m.mean_pts = 100 * sum / n;
  m.std_err_pts = 100 * std::sqrt(var) / n;
  m.confidence = confidence;
  const double half = metrics::normal_quantile_two_sided(confidence) * m.std_err_pts;
  m.low_pts = m.mean_pts - half;
  m.high_pts = m.mean_pts + half;
  m.items = items;
  out.mean = m;
  return out;
}

std::optional<double> Comparison::retention_low() const {
  if (!paired || baseline_score <= 0) return std::nullopt;
  return 1 + paired->low_pts / (100 * baseline_score);
}

std::optional<double> Comparison::retention_high() const {
  if (!paired || baseline_score <= 0) return std::nullopt;
  return 1 + paired->high_pts / (100 * baseline_score);
}

std::string energy_source_kind(const std::string& energy_source) {
  for (const char* kind : {"estimated", "sampled", "counter"})
    if (energy_source.find(kind) != std::string::npos) return kind;
  return "";
}

std::string placement(const std::string& device, int threads) {
  return threads > 0 ? device + "/" + std::to_string(threads) : device;
}

std::string ConfigSummary::name() const { return precision + " @ " + placement(device, threads); }

std::optional<double> ConfigSummary::eor() const {
  if (!energy_j || *energy_j <= 0) return std::nullopt;
  return metrics::eor(score, *energy_j);
}

std::optional<double> ConfigSummary::tweor() const {
  if (!energy_j || *energy_j <= 0 || seconds <= 0) return std::nullopt;
  return metrics::tweor(score, *energy_j, seconds);
}

std::optional<double> ConfigSummary::j_per_token() const {
  if (!energy_j || tokens <= 0) return std::nullopt;
  return *energy_j / static_cast<double>(tokens);
}

double ConfigSummary::tokens_per_s() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0; }

double ConfigSummary::latency_ms_per_token() const {
  const double tps = tokens_per_s();
  return tps > 0 ? 1000.0 / tps : 0;
}

namespace {

// Marks the tasks each model's baseline scores at chance (every configuration's at chance where
// the model has no baseline) as left out, for all of the model's configurations.
void leave_out_chance_tasks(std::vector<ConfigSummary>& configs, const std::string& baseline) {
  std::map<std::string, std::set<std::string>> at_chance, not_at_chance;  // model -> tasks
  std::set<std::string> with_baseline;
  for (const ConfigSummary& c : configs)
    if (c.precision == baseline) with_baseline.insert(c.model);
  for (const ConfigSummary& c : configs) {
    if (with_baseline.count(c.model) && c.precision != baseline) continue;
    for (const TaskSummary& t : c.tasks) (t.at_chance ? at_chance : not_at_chance)[c.model].insert(t.task);
  }
  for (ConfigSummary& c : configs)
    for (TaskSummary& t : c.tasks) t.left_out = at_chance[c.model].count(t.task) && !not_at_chance[c.model].count(t.task);
}

// The configuration's figures over the tasks not left out.
void fold_config(ConfigSummary& cs) {
  const Totals t = totals(cs, {});
  cs.score = t.score, cs.seconds = t.seconds, cs.tokens = t.tokens, cs.energy_j = t.energy_j;
  std::vector<std::string> sources;
  double var = 0;
  for (const TaskSummary& ts : cs.tasks) {
    if (ts.left_out) continue;
    sources.push_back(ts.energy_source);
    if (ts.peak_power_w) cs.peak_power_w = std::max(cs.peak_power_w.value_or(0), *ts.peak_power_w);
    var += ts.score_stderr * ts.score_stderr;
    cs.energy_j_min += ts.energy_j_min, cs.energy_j_max += ts.energy_j_max;
    cs.min_repeats = cs.min_repeats == 0 ? ts.repeats : std::min(cs.min_repeats, ts.repeats);
  }
  cs.energy_source = join_sources(sources);
  cs.score_stderr = t.tasks > 0 ? std::sqrt(var) / t.tasks : 0;
  if (cs.energy_j && cs.seconds > 0) cs.avg_power_w = *cs.energy_j / cs.seconds;
}

// The configuration a cell belongs to: model, precision, device, threads.
std::string config_key(const study::CellRow& c) {
  return c.model + "\x1f" + c.precision + "\x1f" + c.device + "\x1f" + std::to_string(c.threads);
}

}  // namespace

Summary summarize(const std::vector<study::CellRow>& cells, std::string baseline, double confidence,
                  bool exclude_chance_tasks) {
  Summary s;
  s.confidence = confidence;
  s.exclude_chance_tasks = exclude_chance_tasks;
  if (baseline.empty() && !cells.empty()) baseline = cells.front().precision;
  s.baseline = baseline;
  // Group by configuration, then by task, keeping first-stored order.
  std::vector<std::string> config_order;
  std::map<std::string, std::vector<std::string>> task_order;
  std::map<std::string, std::map<std::string, std::vector<const study::CellRow*>>> groups;
  for (const study::CellRow& c : cells) {
    const std::string ck = config_key(c);
    if (!groups.count(ck)) config_order.push_back(ck);
    auto& by_task = groups[ck];
    if (!by_task.count(c.task)) task_order[ck].push_back(c.task);
    by_task[c.task].push_back(&c);
  }
  const double z = metrics::normal_quantile_two_sided(confidence);
  for (const std::string& ck : config_order) {
    ConfigSummary cs;
    for (const std::string& task : task_order[ck]) cs.tasks.push_back(fold_task(groups[ck][task], z));
    const TaskSummary& f = cs.tasks.front();
    cs.model = f.model, cs.precision = f.precision, cs.device = f.device, cs.threads = f.threads;
    s.configs.push_back(std::move(cs));
  }
  // A configuration misses the tasks its studies ran on other configurations (each study's grid
  // gives every configuration all its tasks, but an engine given some of them, or a study run in
  // part); studies sharing a database may have other tasks, which no configuration misses.
  std::vector<std::pair<std::string, std::string>> study_tasks;  // (study, task), first-stored order
  std::map<std::string, std::set<std::string>> studies_of;       // configuration -> its studies
  for (const study::CellRow& c : cells) {
    if (std::find(study_tasks.begin(), study_tasks.end(), std::pair(c.study, c.task)) == study_tasks.end())
      study_tasks.emplace_back(c.study, c.task);
    studies_of[config_key(c)].insert(c.study);
  }
  for (size_t i = 0; i < s.configs.size(); ++i) {
    ConfigSummary& cs = s.configs[i];
    for (const auto& [study_name, task] : study_tasks)
      if (studies_of[config_order[i]].count(study_name) &&
          std::none_of(cs.tasks.begin(), cs.tasks.end(), [&](const TaskSummary& t) { return t.task == task; }) &&
          std::find(cs.missing_tasks.begin(), cs.missing_tasks.end(), task) == cs.missing_tasks.end())
        cs.missing_tasks.push_back(task);
  }
  if (exclude_chance_tasks) leave_out_chance_tasks(s.configs, baseline);
  for (ConfigSummary& cs : s.configs) fold_config(cs);
  for (size_t i = 0; i < s.configs.size(); ++i) {
    const ConfigSummary& c = s.configs[i];
    Comparison cmp;
    cmp.config = static_cast<int>(i);
    for (size_t j = 0; j < s.configs.size(); ++j) {
      const ConfigSummary& b = s.configs[j];
      if (b.model == c.model && b.device == c.device && b.threads == c.threads && b.precision == baseline)
        cmp.baseline = static_cast<int>(j);
    }
    if (cmp.baseline >= 0) {
      const ConfigSummary& base = s.configs[static_cast<size_t>(cmp.baseline)];
      std::set<std::string> common;  // compare on the tasks both have
      for (const TaskSummary& t : c.tasks)
        for (const TaskSummary& u : base.tasks)
          if (t.task == u.task && !t.left_out && !u.left_out) common.insert(t.task);
      const Totals a = totals(c, common), b = totals(base, common);
      if (!common.empty()) {
        cmp.accuracy_loss_pts = 100.0 * (b.score - a.score);
        if (b.score > 0) cmp.accuracy_retention = a.score / b.score;
        if (a.energy_j && b.energy_j && *b.energy_j > 0) {
          cmp.energy_reduction_pct = 100.0 * (1.0 - *a.energy_j / *b.energy_j);
          if (a.score > 0 && b.score > 0)
            cmp.eor_improvement_pct = metrics::change_pct(metrics::eor(a.score, *a.energy_j), metrics::eor(b.score, *b.energy_j));
        }
        cmp.same_energy_source = c.energy_source == base.energy_source;
        cmp.baseline_score = b.score;
        ItemComparison items = compare_items(base, c, confidence);
        cmp.task_deltas = std::move(items.tasks);
        if (c.precision != base.precision) cmp.paired = items.mean;
      }
    }
    s.comparisons.push_back(cmp);
  }
  return s;
}

}  // namespace joule::report
