#include "report/tables.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/strings.h"
#include "metrics/efficiency.h"

namespace joule::report {
namespace {

std::string opt(const std::optional<double>& v, const char* f = "%.3g") { return v ? format_number(f, *v) : "n/a"; }
std::string signed_opt(const std::optional<double>& v, const char* f = "%+.1f") { return v ? format_number(f, *v) : "-"; }

std::optional<double> co2e(const std::optional<double>& energy_j, const ReportOptions& o) {
  if (!energy_j || !o.grid_g_per_kwh) return std::nullopt;
  return metrics::co2e_g(*energy_j, *o.grid_g_per_kwh, o.pue);
}

std::string row(const std::vector<std::string>& cells) {
  std::string out = "|";
  for (const std::string& c : cells) out += " " + c + " |";
  return out + "\n";
}

// Free text (an error) as a table cell: a '|' would end the cell.
std::string cell_text(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string header(const std::vector<std::string>& cells) {
  std::string sep = "|";
  for (size_t i = 0; i < cells.size(); ++i) sep += i == 0 ? " --- |" : " ---: |";
  return row(cells) + sep + "\n";
}

// "+0.04 ± 0.35 (≈0)": the loss with its interval's half width (the normal interval is symmetric)
// and a mark where the interval includes 0; "+0.04 (no item data)" for cells stored before schema 2.
std::string loss_with_interval(const Comparison& c) {
  if (!c.accuracy_loss_pts) return "-";
  const std::string loss = format_number("%+.2f", *c.accuracy_loss_pts);
  if (!c.paired) return c.baseline == c.config ? loss : loss + " (no item data)";
  const double half = (c.paired->high_pts - c.paired->low_pts) / 2;
  return loss + " ± " + format_number("%.2f", half) + (c.accuracy_loss_distinguishable() ? "" : " (≈0)");
}

// The per-task paired delta in points ("-0.67 ± 0.92, 3+ / 4-") or why there is none.
std::string task_delta(const Comparison& c, const std::string& task) {
  for (const TaskDelta& d : c.task_deltas)
    if (d.task == task) {
      if (!d.paired) return "no item data";
      const metrics::PairedDifference& p = *d.paired;
      return format_number("%+.2f", 100 * p.mean_diff) + " ± " + format_number("%.2f", 100 * (p.ci_high - p.mean_diff)) +
             (p.includes_zero() ? " (≈0)" : "") + ", " + std::to_string(p.better) + "+ / " + std::to_string(p.worse) + "-";
    }
  return "-";
}

std::string with_digits(double v, int digits) {
  char b[48];
  std::snprintf(b, sizeof(b), "%.*g", digits, v);
  return b;
}

// The fewest significant digits (3 to 6) at which the column's different values print differently,
// so that configurations can be told apart.
int distinct_digits(const std::vector<std::optional<double>>& values) {
  for (int digits = 3; digits < 6; ++digits) {
    std::set<std::string> printed;
    std::set<double> distinct;
    for (const auto& v : values)
      if (v) printed.insert(with_digits(*v, digits)), distinct.insert(*v);
    if (printed.size() == distinct.size()) return digits;
  }
  return 6;
}

std::string sig(const std::optional<double>& v, int digits) { return v ? with_digits(*v, digits) : "n/a"; }

// "24.70 (at chance: 25.00, left out)" for a task scored no better than random answers.
std::string task_score(const TaskSummary& t) {
  std::string out = format_number("%.2f", 100 * t.score);
  if (t.at_chance) out += " (at chance: " + format_number("%.2f", 100 * *t.chance) + (t.left_out ? ", left out)" : ")");
  return out;
}

// "1234.5 (1220.0-1250.3)": the energy with the range its repeats span; "(1 repeat)" when a task
// was measured once, so the energy has no spread estimate.
std::string energy_with_spread(const ConfigSummary& k) {
  if (!k.energy_j) return "n/a";
  const std::string e = format_number("%.1f", *k.energy_j);
  if (k.min_repeats <= 1) return e + " (1 repeat)";
  return e + " (" + format_number("%.1f", k.energy_j_min) + "-" + format_number("%.1f", k.energy_j_max) + ")";
}

// "38.00 (1 of 3 tasks)" for a configuration that ran fewer tasks than others: its mean is over
// other tasks than theirs.
std::string config_score(const ConfigSummary& k) {
  const std::string score = format_number("%.2f", 100 * k.score);
  if (k.missing_tasks.empty()) return score;
  return score + " (" + std::to_string(k.tasks.size()) + " of " + std::to_string(k.tasks.size() + k.missing_tasks.size()) +
         " tasks)";
}

std::string csv_field(std::string v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::optional<double> cost_per_mtok(const ConfigSummary& c, const ReportOptions& o) {
  if (!c.energy_j || c.tokens <= 0) return std::nullopt;
  const double cost = *c.energy_j / 3.6e6 * o.cost_per_kwh + c.seconds / 3600.0 * o.cost_per_hour;
  return cost / static_cast<double>(c.tokens) * 1e6;
}

std::string render_markdown(const Summary& s, const ReportOptions& o) {
  std::string md;
  const bool co2 = o.grid_g_per_kwh.has_value();
  md += "## Quantization strategy comparison (baseline: " + s.baseline + ")\n\n";
  md += "Accuracy is the mean of the tasks' headline scores; energy the sum over tasks (medians over repeats); "
        "reductions and losses against the baseline precision on the same model, device and threads.\n\n";
  std::vector<std::string> h = {"Configuration", "Model", "Accuracy (%)", "Energy (J)", "Source", "Energy reduction (%)",
                                "Accuracy loss (pts)", "EOR (1/Wh)", "EOR improvement (%)", "TWEOR (1/(Wh s))",
                                "J/token", "tok/s", "Avg W"};
  if (co2) h.push_back("gCO2e");
  md += header(h);
  bool mixed_comparison = false;
  std::vector<std::optional<double>> eors, tweors;
  for (const ConfigSummary& k : s.configs) eors.push_back(k.eor()), tweors.push_back(k.tweor());
  const int eor_digits = distinct_digits(eors), tweor_digits = distinct_digits(tweors);
  for (const Comparison& c : s.comparisons) {
    const ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    mixed_comparison = mixed_comparison || !c.same_energy_source;
    std::vector<std::string> r = {k.name(), k.model, config_score(k), energy_with_spread(k),
                                  k.energy_source.empty() ? "not measured" : k.energy_source + (c.same_energy_source ? "" : " (*)"),
                                  signed_opt(c.energy_reduction_pct), loss_with_interval(c),
                                  sig(k.eor(), eor_digits), signed_opt(c.eor_improvement_pct), sig(k.tweor(), tweor_digits),
                                  opt(k.j_per_token(), "%.4f"), format_number("%.0f", k.tokens_per_s()), opt(k.avg_power_w, "%.1f")};
    if (co2) r.push_back(opt(co2e(k.energy_j, o), "%.3g"));
    md += row(r);
  }
  md += "\nEnergy: the sum over tasks of each task's median over repeats, in parentheses the range from the sum of "
        "the smallest to the sum of the largest repeats; (1 repeat): measured once, so there is no estimate of its "
        "spread (study repeats = 3 gives one).\n";
  md += "\nAccuracy loss: ± is the " + format_number("%.0f", 100 * s.confidence) +
        " % interval of the paired difference on the same items (each task's items compared one by one, MMLU "
        "clustered by subject; docs/studies.md); (≈0): the interval includes 0, so this loss is not "
        "distinguishable from noise at this number of items.\n";
  // One entry per model and task: its chance score and the configurations at it.
  std::vector<std::pair<std::string, std::string>> chance_entries;  // (model + task, text)
  for (const ConfigSummary& k : s.configs)
    for (const TaskSummary& t : k.tasks) {
      if (!t.at_chance) continue;
      const std::string id = k.model + "\x1f" + t.task;
      auto e = std::find_if(chance_entries.begin(), chance_entries.end(), [&](const auto& x) { return x.first == id; });
      if (e == chance_entries.end())
        e = chance_entries.insert(chance_entries.end(),
                                  {id, t.task + " of " + k.model + " (chance " + format_number("%.2f", 100 * *t.chance) + " %:"});
      else
        e->second += ",";
      e->second += " " + k.precision + " @ " + placement(k.device, k.threads) + " " + format_number("%.2f", 100 * t.score);
    }
  std::string chance_tasks;
  for (const auto& [id, text] : chance_entries) chance_tasks += (chance_tasks.empty() ? "" : "; ") + text + ")";
  if (!chance_tasks.empty())
    md += "\nAt chance level (the score's interval reaches what random answers score): " + chance_tasks + ". " +
          (s.exclude_chance_tasks ? "Tasks a model's baseline scores at chance are left out of that model's averages."
                                  : "They are kept in the averages; --exclude-chance-tasks leaves them out.") +
          "\n";
  std::string partial;
  for (const ConfigSummary& k : s.configs) {
    if (k.missing_tasks.empty()) continue;
    partial += (partial.empty() ? "" : "; ") + k.name() + " (" + k.model + ") ran " + join(k.task_names(), ", ");
  }
  if (!partial.empty())
    md += "\nFewer tasks: " + partial + ". Its accuracy, energy and EOR are over those tasks only, so they do not compare "
          "with the rows that ran all of them; compare it per task (below). The recommender leaves it out.\n";
  if (mixed_comparison)
    md += "\n(*) this configuration's energy comes from a different source than its baseline's: the comparison mixes "
          "sources (see docs/energy.md).\n";

  if (!s.failed.empty()) {
    md += "\n## Cells not measured\n\nTheir engine failed (the study ran with on_engine_failure = next-engine); a rerun "
          "tries them again. The full error, with the engine's log tail, is in the JSON report.\n\n";
    md += header({"Configuration", "Model", "Task", "Repeat", "Failed at", "Error"});
    for (const study::CellFailure& f : s.failed)
      md += row({f.precision + " @ " + f.device, f.model, f.task, std::to_string(f.repeat), f.failed_at,
                 cell_text(f.error.substr(0, f.error.find('\n')))});
  }
  md += "\n## Per task\n\n";
  md += header({"Configuration", "Model", "Task", "Metric", "Score (%)", "± stderr", "vs " + s.baseline + " (pts, items +/-)",
                "Range over repeats", "Repeats", "Energy (J)", "J/token", "Seconds", "Tokens"});
  for (const Comparison& c : s.comparisons) {
    const ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    for (const TaskSummary& t : k.tasks)
      md += row({k.name(), k.model, t.task, t.metric, task_score(t), format_number("%.2f", 100 * t.score_stderr),
                 c.baseline == c.config ? "baseline" : task_delta(c, t.task),
                 format_number("%.2f", 100 * t.score_min) + "-" + format_number("%.2f", 100 * t.score_max), std::to_string(t.repeats),
                 opt(t.energy_j, "%.1f"), t.energy_j ? format_number("%.4f", *t.energy_j / static_cast<double>(t.tokens)) : "n/a",
                 format_number("%.1f", t.seconds), std::to_string(t.tokens)});
  }

  // Platform x precision: devices (with threads) as rows, precisions as columns.
  std::vector<std::string> platforms, precisions;
  std::map<std::pair<std::string, std::string>, const ConfigSummary*> cell;
  for (const ConfigSummary& k : s.configs) {
    const std::string p = k.model + " " + placement(k.device, k.threads);
    if (std::find(platforms.begin(), platforms.end(), p) == platforms.end()) platforms.push_back(p);
    if (std::find(precisions.begin(), precisions.end(), k.precision) == precisions.end()) precisions.push_back(k.precision);
    cell[{p, k.precision}] = &k;
  }
  md += "\n## Platform x precision (accuracy % / J per token / EOR)\n\n";
  std::vector<std::string> ph = {"Platform"};
  ph.insert(ph.end(), precisions.begin(), precisions.end());
  md += header(ph);
  for (const std::string& p : platforms) {
    std::vector<std::string> r = {p};
    for (const std::string& q : precisions) {
      const auto it = cell.find({p, q});
      r.push_back(it == cell.end() ? "-"
                                   : config_score(*it->second) + " / " + opt(it->second->j_per_token(), "%.4f") +
                                         " / " + opt(it->second->eor(), "%.1f"));
    }
    md += row(r);
  }

  md += "\n## Deployment decision matrix\n\n";
  md += "Accuracy retention and efficiency gain (EOR ratio) against " + s.baseline + "; cost per million tokens at " +
        format_number("%.3g", o.cost_per_kwh) + " " + o.currency + "/kWh" +
        (o.cost_per_hour > 0 ? " plus " + format_number("%.3g", o.cost_per_hour) + " " + o.currency + "/h of machine time" : "") +
        " (set with --cost-per-kwh / --cost-per-hour).\n\n";
  md += header({"Configuration", "Accuracy retention", "Efficiency gain", "Latency (ms/token)", "Avg W",
                "Cost per 1M tokens (" + o.currency + ")"});
  for (const Comparison& c : s.comparisons) {
    const ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    const std::string gain = c.eor_improvement_pct ? format_number("%.2fx", 1 + *c.eor_improvement_pct / 100) : "-";
    md += row({k.name() + " (" + k.model + ")", c.accuracy_retention ? format_number("%.3f", *c.accuracy_retention) : "-",
               gain, format_number("%.2f", k.latency_ms_per_token()), opt(k.avg_power_w, "%.1f"),
               opt(cost_per_mtok(k, o), "%.4g")});
  }
  return md;
}

std::string render_csv(const Summary& s, const ReportOptions& o) {
  std::string out =
      "model,precision,device,threads,task,metric,repeats,items,score,score_stderr,score_min,score_max,seconds,tokens,"
      "energy_j,energy_source,j_per_token,eor_per_wh,tweor,avg_power_w,peak_power_w,co2e_g\n";
  for (const ConfigSummary& k : s.configs)
    for (const TaskSummary& t : k.tasks) {
      const bool e = t.energy_j && *t.energy_j > 0;
      std::vector<std::string> f = {
          k.model, k.precision, k.device, std::to_string(k.threads), t.task, t.metric, std::to_string(t.repeats),
          std::to_string(t.items), format_number("%.6g", t.score), format_number("%.6g", t.score_stderr), format_number("%.6g", t.score_min),
          format_number("%.6g", t.score_max), format_number("%.6g", t.seconds), std::to_string(t.tokens), e ? format_number("%.6g", *t.energy_j) : "",
          t.energy_source, e ? format_number("%.6g", *t.energy_j / static_cast<double>(t.tokens)) : "",
          e ? format_number("%.6g", metrics::eor(t.score, *t.energy_j)) : "",
          e && t.seconds > 0 ? format_number("%.6g", metrics::tweor(t.score, *t.energy_j, t.seconds)) : "",
          t.avg_power_w ? format_number("%.6g", *t.avg_power_w) : "", t.peak_power_w ? format_number("%.6g", *t.peak_power_w) : "",
          co2e(t.energy_j, o) ? format_number("%.6g", *co2e(t.energy_j, o)) : ""};
      for (size_t i = 0; i < f.size(); ++i) {
        if (i) out += ',';
        out += csv_field(f[i]);
      }
      out += "\n";
    }
  return out;
}

std::string render_json(const Summary& s, const ReportOptions& o) {
  auto num = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"baseline", s.baseline}, {"confidence", s.confidence},
                      {"exclude_chance_tasks", s.exclude_chance_tasks}, {"configs", nlohmann::json::array()},
                      {"failed_cells", nlohmann::json::array()}};
  for (const study::CellFailure& f : s.failed)
    j["failed_cells"].push_back({{"study", f.study}, {"key", f.key}, {"model", f.model}, {"precision", f.precision},
                                 {"device", f.device}, {"task", f.task}, {"repeat", f.repeat}, {"failed_at", f.failed_at},
                                 {"error", f.error}});
  for (const Comparison& c : s.comparisons) {
    const ConfigSummary& k = s.configs[static_cast<size_t>(c.config)];
    nlohmann::json tasks = nlohmann::json::array();
    for (const TaskSummary& t : k.tasks) {
      nlohmann::json paired = nullptr;
      for (const TaskDelta& d : c.task_deltas)
        if (d.task == t.task && d.paired)
          paired = {{"items", d.paired->n}, {"mean_diff", d.paired->mean_diff}, {"std_err", d.paired->std_err},
                    {"clusters", d.paired->clusters}, {"interval", {d.paired->ci_low, d.paired->ci_high}},
                    {"better", d.paired->better}, {"worse", d.paired->worse}};
      tasks.push_back({{"task", t.task}, {"metric", t.metric}, {"repeats", t.repeats}, {"items", t.items},
                       {"chance", num(t.chance)}, {"at_chance", t.at_chance}, {"left_out", t.left_out},
                       {"vs_baseline_paired", paired},
                       {"score", t.score}, {"score_stderr", t.score_stderr}, {"score_min", t.score_min},
                       {"score_max", t.score_max}, {"seconds", t.seconds}, {"tokens", t.tokens},
                       {"energy_j", num(t.energy_j)}, {"energy_source", t.energy_source},
                       {"avg_power_w", num(t.avg_power_w)}, {"peak_power_w", num(t.peak_power_w)}});
    }
    j["configs"].push_back({{"name", k.name()}, {"model", k.model}, {"precision", k.precision}, {"device", k.device},
                            {"threads", k.threads}, {"score", k.score}, {"score_stderr", k.score_stderr},
                            {"missing_tasks", k.missing_tasks},
                            {"seconds", k.seconds}, {"tokens", k.tokens},
                            {"energy_j", num(k.energy_j)},
                            {"energy_j_range", k.energy_j && k.min_repeats > 1 ? nlohmann::json::array({k.energy_j_min, k.energy_j_max})
                                                                               : nlohmann::json(nullptr)},
                            {"min_repeats", k.min_repeats}, {"energy_source", k.energy_source},
                            {"eor_per_wh", num(k.eor())}, {"tweor", num(k.tweor())}, {"j_per_token", num(k.j_per_token())},
                            {"tokens_per_s", k.tokens_per_s()}, {"avg_power_w", num(k.avg_power_w)},
                            {"peak_power_w", num(k.peak_power_w)}, {"co2e_g", num(co2e(k.energy_j, o))},
                            {"cost_per_mtok", num(cost_per_mtok(k, o))},
                            {"vs_baseline",
                             {{"energy_reduction_pct", num(c.energy_reduction_pct)},
                              {"accuracy_loss_pts", num(c.accuracy_loss_pts)},
                              {"accuracy_loss_interval_pts", c.paired
                                                                 ? nlohmann::json::array({*c.accuracy_loss_low_pts(), *c.accuracy_loss_high_pts()})
                                                                 : nlohmann::json(nullptr)},
                              {"accuracy_loss_distinguishable", c.paired
                                                                    ? nlohmann::json(c.accuracy_loss_distinguishable())
                                                                    : nlohmann::json(nullptr)},
                              {"accuracy_retention_interval", c.retention_low()
                                                                  ? nlohmann::json::array({*c.retention_low(), *c.retention_high()})
                                                                  : nlohmann::json(nullptr)},
                              {"confidence", s.confidence},
                              {"accuracy_retention", num(c.accuracy_retention)},
                              {"eor_improvement_pct", num(c.eor_improvement_pct)},
                              {"same_energy_source", c.same_energy_source}}},
                            {"tasks", tasks}});
  }
  return j.dump(2) + "\n";
}

}  // namespace joule::report
