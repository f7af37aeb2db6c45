// joule recommend: the configurations of a results database that meet accuracy, latency and
// power constraints, ranked by a priority and explained with their measured numbers. Exits 1
// when none qualifies.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "recommend/recommend.h"

namespace joule::cli {
namespace {

struct RecommendOptions {
  std::string db = "results/joule.db";
  std::string study, baseline, scenario, priority;
  double min_retention = -1, max_latency_ms = -1, max_power_w = -1;
  double confidence = 0.95;
  bool exclude_chance = false;
  bool json = false;
};

constexpr int kExitNoneQualifies = 1;

int run(const RecommendOptions& o) {
  recommend::Constraints c;
  if (o.min_retention >= 0) c.min_accuracy_retention = o.min_retention;
  if (o.max_latency_ms >= 0) c.max_latency_ms = o.max_latency_ms;
  if (o.max_power_w >= 0) c.max_power_w = o.max_power_w;
  if (!o.priority.empty()) {
    auto p = recommend::parse_priority(o.priority);
    if (!p.ok()) return report_error(p.status());
    c.priority = *p;
  }
  if (!o.scenario.empty()) {
    auto sc = recommend::scenario_constraints(o.scenario, c, !o.priority.empty());
    if (!sc.ok()) return report_error(sc.status());
    c = *sc;
  }
  if (!(o.confidence > 0 && o.confidence < 1)) return report_error(InvalidArgument("--confidence must lie between 0 and 1, e.g. 0.95"));
  auto db = study::ResultsDb::open_existing(o.db);
  if (!db.ok()) return report_error(db.status());
  auto cells = (*db)->cells(o.study);
  if (!cells.ok()) return report_error(cells.status());
  if (cells->empty()) return report_error(NotFound("no cells in " + o.db + " to recommend from"));
  const report::Summary s = report::summarize(*cells, o.baseline, o.confidence, o.exclude_chance);
  const recommend::Recommendation r = recommend::recommend(s, c);
  if (o.json)
    std::cout << r.json(s).dump(2) << "\n";
  else
    std::cout << r.text(s);
  // Scripts can branch on the answer without parsing it.
  return r.ranked.empty() ? kExitNoneQualifies : 0;
}

}  // namespace

void register_recommend(CLI::App& app, Action& action) {
  auto o = std::make_shared<RecommendOptions>();
  std::string scenario_help = "preset constraints:";
  for (const recommend::Scenario& s : recommend::scenarios())
    scenario_help += std::string("\n  ") + s.name + ": " + s.description;
  CLI::App* cmd = app.add_subcommand("recommend", "pick configurations from measured results under constraints");
  cmd->add_option("db", o->db, "results database")->capture_default_str();
  cmd->add_option("--study", o->study, "only this study's cells");
  cmd->add_option("--baseline", o->baseline, "precision accuracy retention is measured against (default: the first stored)");
  cmd->add_option("--min-accuracy-retention", o->min_retention, "e.g. 0.98: keep 98 % of the baseline's accuracy");
  cmd->add_option("--max-latency-ms", o->max_latency_ms, "at most this many ms per processed token");
  cmd->add_option("--max-power-w", o->max_power_w, "at most this average power");
  cmd->add_option("--priority", o->priority, "accuracy, energy, latency or balanced (default: balanced)");
  cmd->add_option("--scenario", o->scenario, scenario_help);
  cmd->add_option("--confidence", o->confidence,
                  "of the accuracy-retention intervals: rejected only below the interval, meets only above it, undecided "
                  "in between (with the items that would decide it)")
      ->capture_default_str();
  cmd->add_flag("--exclude-chance-tasks", o->exclude_chance,
                "judge accuracy without the tasks a model's baseline scores at chance level");
  cmd->add_flag("--json", o->json, "print JSON: every candidate's measured numbers, the constraints it fails and by how much");
  cmd->footer("Exit status: 0 when at least one configuration qualifies; 1 when none does (the explanation, with the\n"
              "nearest relaxation of the limits, is still printed, as JSON with --json) or the database cannot be\n"
              "read (an error on stderr); 2 for invalid arguments.");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
