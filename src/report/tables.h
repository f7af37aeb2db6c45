// The research's tables from a Summary, as markdown, CSV or JSON (HTML: report/html.h).
#pragma once

#include <optional>
#include <string>

#include "report/summary.h"

namespace joule::report {

struct ReportOptions {
  // The deployment matrix's cost column: energy at this price, plus the machine's time at
  // cost_per_hour (amortized hardware or a cloud price), per million tokens processed.
  double cost_per_kwh = 0.15;
  double cost_per_hour = 0;
  std::string currency = "USD";
  std::optional<double> grid_g_per_kwh;  // gCO2e columns when set
  double pue = 1.0;                      // data-centre overhead applied to gCO2e
};

// Cost per million tokens (energy at cost_per_kwh plus time at cost_per_hour); absent without energy.
std::optional<double> cost_per_mtok(const ConfigSummary& c, const ReportOptions& o);

std::string render_markdown(const Summary& s, const ReportOptions& o);
// One row per (configuration, task): every stored figure and the derived ones.
std::string render_csv(const Summary& s, const ReportOptions& o);
std::string render_json(const Summary& s, const ReportOptions& o);

}  // namespace joule::report
