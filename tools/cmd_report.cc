// joule report: the research's tables and charts from a results database (markdown, HTML with
// inline SVG, CSV or JSON).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common.h"
#include "recommend/recommend.h"
#include "report/html.h"

namespace joule::cli {
namespace {

struct ReportCliOptions {
  std::string db = "results/joule.db";
  std::string study;
  std::string baseline;
  std::string format = "md";
  std::string out;
  report::ReportOptions report;
  double grid = -1;
  double confidence = 0.95;
  bool exclude_chance = false;
};

// The kind of `domain`'s energy in a cell's source ("cpu estimated, dram counter" -> "estimated").
std::string domain_kind(const std::string& energy_source, const std::string& domain) {
  const size_t at = energy_source.find(domain + " ");
  if (at == std::string::npos) return "";
  const size_t from = at + domain.size() + 1, to = energy_source.find_first_of(",|", from);
  return energy_source.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

// Every stored cell's power samples, one series per domain, for the HTML chart.
std::vector<report::PowerTrace> power_traces(const study::ResultsDb& db, const std::vector<study::CellRow>& cells) {
  std::vector<report::PowerTrace> out;
  for (const study::CellRow& c : cells) {
    auto samples = db.power(c.study, c.key);
    if (!samples.ok() || samples->empty()) continue;
    report::PowerTrace trace{c.precision + " @ " + c.device + "/" + std::to_string(c.threads) + ", " + c.task + " (repeat " +
                                 std::to_string(c.repeat) + ")",
                             {}};
    for (const study::PowerSample& p : *samples) {
      std::string name = p.domain;
      if (const std::string kind = domain_kind(c.result.energy_source, p.domain); !kind.empty()) name += ", " + kind;
      auto s = std::find_if(trace.series.begin(), trace.series.end(), [&](const report::Series& x) { return x.name == name; });
      if (s == trace.series.end()) s = trace.series.insert(trace.series.end(), report::Series{name, {}, {}});
      s->t_s.push_back(p.t_s);
      s->y.push_back(p.power_w);
    }
    out.push_back(std::move(trace));
  }
  return out;
}

int run(ReportCliOptions o) {
  if (o.format != "md" && o.format != "html" && o.format != "csv" && o.format != "json")
    return report_error(InvalidArgument("--format must be md, html, csv or json"));
  if (o.grid >= 0) o.report.grid_g_per_kwh = o.grid;
  auto db = study::ResultsDb::open_existing(o.db);
  if (!db.ok()) return report_error(db.status());
  auto cells = (*db)->cells(o.study);
  if (!cells.ok()) return report_error(cells.status());
  auto failed = (*db)->failures(o.study);
  if (!failed.ok()) return report_error(failed.status());
  if (cells->empty())
    return report_error(NotFound("no cells" + (o.study.empty() ? std::string() : " of study '" + o.study + "'") + " in " + o.db +
                                 (failed->empty() ? "" : " (" + std::to_string(failed->size()) + " failed; the first: " +
                                                             failed->front().key + ": " + failed->front().error + ")")));
  if (!(o.confidence > 0 && o.confidence < 1)) return report_error(InvalidArgument("--confidence must lie between 0 and 1, e.g. 0.95"));
  report::Summary s = report::summarize(*cells, o.baseline, o.confidence, o.exclude_chance);
  s.failed = std::move(*failed);
  std::string text;
  if (o.format == "md") {
    text = "# joule report: " + (o.study.empty() ? o.db : o.study) + "\n\n" + report::render_markdown(s, o.report);
  } else if (o.format == "csv") {
    text = report::render_csv(s, o.report);
  } else if (o.format == "json") {
    text = report::render_json(s, o.report);
  } else {
    report::HtmlPage page{"joule report: " + (o.study.empty() ? o.db : o.study), recommend::scenario_verdicts(s),
                          power_traces(**db, *cells)};
    text = report::render_html(s, o.report, page);
  }
  if (o.out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream f(o.out, std::ios::binary);
  if (!(f << text)) return report_error(IoError("cannot write " + o.out));
  std::fprintf(stderr, "[joule report] wrote %s\n", o.out.c_str());
  return 0;
}

}  // namespace

void register_report(CLI::App& app, Action& action) {
  auto o = std::make_shared<ReportCliOptions>();
  CLI::App* cmd = app.add_subcommand("report", "tables and charts from a results database (docs/studies.md)");
  cmd->add_option("db", o->db, "results database")->capture_default_str();
  cmd->add_option("--study", o->study, "only this study (default: every study in the database)");
  cmd->add_option("--baseline", o->baseline, "precision the deltas are against (default: the first stored)");
  cmd->add_option("--format", o->format, "md, html, csv or json")->capture_default_str();
  cmd->add_option("--confidence", o->confidence, "of the accuracy intervals (paired, item by item)")->capture_default_str();
  cmd->add_flag("--exclude-chance-tasks", o->exclude_chance,
                "leave tasks a model's baseline scores at chance level out of that model's averages");
  cmd->add_option("-o,--out", o->out, "write to this file instead of standard output");
  cmd->add_option("--cost-per-kwh", o->report.cost_per_kwh, "energy price for the cost column")->capture_default_str();
  cmd->add_option("--cost-per-hour", o->report.cost_per_hour, "machine cost per hour for the cost column")
      ->capture_default_str();
  cmd->add_option("--currency", o->report.currency, "currency of the costs")->capture_default_str();
  cmd->add_option("--grid-gco2-per-kwh", o->grid, "grid carbon intensity: adds gCO2e columns");
  cmd->add_option("--pue", o->report.pue, "data-centre PUE applied to gCO2e")->capture_default_str();
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
