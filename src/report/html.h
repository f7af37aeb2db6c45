// The report as one self-contained HTML file: the markdown tables as HTML, and inline SVG charts
// (accuracy vs energy with the Pareto front, EOR and TWEOR per configuration, power over time),
// opened by the verdicts the caller computed (the recommender sits above the report layer).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "report/svg_charts.h"
#include "report/tables.h"

namespace joule::report {

// One stored cell's power samples, a series per energy domain (named with its source: "cpu,
// estimated").
struct PowerTrace {
  std::string cell;  // "int8 @ cpu/2, arc_easy (repeat 1)"
  std::vector<Series> series;
};

struct HtmlPage {
  std::string title;
  // Per scenario, its name and constraints and the verdict in a sentence, shown before anything else.
  std::vector<std::pair<std::string, std::string>> verdicts;
  std::vector<PowerTrace> power;      // every cell that stored samples, each selectable
};

std::string render_html(const Summary& s, const ReportOptions& o, const HtmlPage& page);

// The subset of markdown render_markdown writes (## headings, paragraphs, pipe tables) as HTML.
std::string markdown_to_html(const std::string& md);

}  // namespace joule::report
