// joule report: the research's tables and charts from a results database (markdown, HTML with
// inline SVG, CSV or JSON).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common.h"
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
};

// The power series of the most recent stored cell that has one, for the HTML chart.
std::vector<report::Series> latest_power(const study::ResultsDb& db, const std::vector<study::CellRow>& cells,
                                         std::string* title) {
  for (auto it = cells.rbegin(); it != cells.rend(); ++it) {
    auto samples = db.power(it->study, it->key);
    if (!samples.ok() || samples->empty()) continue;
    std::vector<report::Series> series;
    for (const study::PowerSample& p : *samples) {
      auto s = std::find_if(series.begin(), series.end(), [&](const report::Series& x) { return x.name == p.domain; });
      if (s == series.end()) s = series.insert(series.end(), report::Series{p.domain, {}, {}});
      s->t_s.push_back(p.t_s);
      s->y.push_back(p.power_w);
    }
    *title = it->precision + " @ " + it->device + "/" + std::to_string(it->threads) + ", " + it->task + " (repeat " +
             std::to_string(it->repeat) + ")";
    return series;
  }
  *title = "any cell";
  return {};
}

int run(ReportCliOptions o) {
  if (o.format != "md" && o.format != "html" && o.format != "csv" && o.format != "json")
    return report_error(InvalidArgument("--format must be md, html, csv or json"));
  if (o.grid >= 0) o.report.grid_g_per_kwh = o.grid;
  auto db = study::ResultsDb::open_existing(o.db);
  if (!db.ok()) return report_error(db.status());
  auto cells = (*db)->cells(o.study);
  if (!cells.ok()) return report_error(cells.status());
  if (cells->empty())
    return report_error(NotFound("no cells" + (o.study.empty() ? std::string() : " of study '" + o.study + "'") + " in " + o.db));
  const report::Summary s = report::summarize(*cells, o.baseline);
  std::string text;
  if (o.format == "md") {
    text = "# joule report: " + (o.study.empty() ? o.db : o.study) + "\n\n" + report::render_markdown(s, o.report);
  } else if (o.format == "csv") {
    text = report::render_csv(s, o.report);
  } else if (o.format == "json") {
    text = report::render_json(s, o.report);
  } else {
    std::string power_title;
    const std::vector<report::Series> power = latest_power(**db, *cells, &power_title);
    text = report::render_html(s, o.report, "joule report: " + (o.study.empty() ? o.db : o.study), power, power_title);
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
