// The report as one self-contained HTML file: the markdown tables as HTML, and inline SVG charts
// (accuracy vs energy with the Pareto front, EOR and TWEOR per configuration, power over time).
#pragma once

#include <string>
#include <vector>

#include "report/svg_charts.h"
#include "report/tables.h"

namespace joule::report {

// `power`: the power series of one run to plot (empty: the chart says none was stored);
// `power_title` names that run.
std::string render_html(const Summary& s, const ReportOptions& o, const std::string& title,
                        const std::vector<Series>& power, const std::string& power_title);

// The subset of markdown render_markdown writes (## headings, paragraphs, pipe tables) as HTML.
std::string markdown_to_html(const std::string& md);

}  // namespace joule::report
