#include "report/html.h"

#include <algorithm>
#include <sstream>

#include "core/strings.h"
#include "metrics/paired.h"

namespace joule::report {
namespace {

std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> cells;
  std::string cur;
  for (size_t i = 1; i < line.size(); ++i) {  // skip the leading '|'
    if (line[i] == '|') {
      const size_t a = cur.find_first_not_of(' '), b = cur.find_last_not_of(' ');
      cells.push_back(a == std::string::npos ? "" : cur.substr(a, b - a + 1));
      cur.clear();
    } else {
      cur += line[i];
    }
  }
  return cells;
}

// The accuracy axis spans at least this many points: a 2-point difference stays a small one.
constexpr double kMinAccuracySpanPts = 10;

}  // namespace

std::string markdown_to_html(const std::string& md) {
  std::istringstream in(md);
  std::string html, line;
  bool in_table = false, header_row = false;
  auto close_table = [&] {
    if (in_table) html += "</tbody></table>\n";
    in_table = false;
  };
  while (std::getline(in, line)) {
    if (line.rfind("|", 0) == 0) {
      if (line.find("---") != std::string::npos && line.find_first_not_of("|-: ") == std::string::npos) continue;
      if (!in_table) {
        html += "<table><thead>";
        in_table = header_row = true;
      }
      html += "<tr>";
      for (const std::string& c : cells_of(line)) html += (header_row ? "<th>" : "<td>") + escape_xml(c) + (header_row ? "</th>" : "</td>");
      html += "</tr>";
      if (header_row) html += "</thead><tbody>";
      header_row = false;
      html += "\n";
      continue;
    }
    close_table();
    if (line.rfind("## ", 0) == 0)
      html += "<h2>" + escape_xml(line.substr(3)) + "</h2>\n";
    else if (line.rfind("# ", 0) == 0)
      html += "<h1>" + escape_xml(line.substr(2)) + "</h1>\n";
    else if (!line.empty())
      html += "<p>" + escape_xml(line) + "</p>\n";
  }
  close_table();
  return html;
}

std::string render_html(const Summary& s, const ReportOptions& o, const HtmlPage& page) {
  std::vector<Point> scatter;
  std::vector<std::string> labels, jpt_labels;
  std::vector<double> eor, tweor, jpt;
  const double z = metrics::normal_quantile_two_sided(s.confidence);
  for (const ConfigSummary& c : s.configs) {
    // Only measured energy is drawn, and only over the same tasks: one that ran fewer would sit
    // on the Pareto front for doing less.
    if (!c.energy_j || !c.missing_tasks.empty()) continue;
    const std::string label = c.name() + (s.configs.front().model == c.model ? "" : " " + c.model);
    const double acc = 100 * c.score, half = 100 * z * c.score_stderr;
    scatter.push_back({*c.energy_j, acc, label, std::max(0.0, acc - half), std::min(100.0, acc + half)});
    labels.push_back(label);
    eor.push_back(*c.eor());
    tweor.push_back(c.tweor().value_or(0));
    if (c.j_per_token()) {
      jpt_labels.push_back(label + ", " + energy_source_kind(c.energy_source));
      jpt.push_back(*c.j_per_token());
    }
  }
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_xml(page.title) +
                  "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
                  "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
                  "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
                  "td:first-child,th:first-child{text-align:left}svg{margin:1em 0;display:block}</style></head><body>\n";
  h += "<h1>" + escape_xml(page.title) + "</h1>\n";
  if (!page.verdicts.empty()) {
    h += "<h2>Verdict</h2>\n<ul class=\"verdict\">\n";
    for (const auto& [scenario, sentence] : page.verdicts)
      h += "<li><b>" + escape_xml(scenario) + "</b>: " + escape_xml(sentence) + "</li>\n";
    h += "</ul>\n";
  }
  h += "<p>Every figure below comes from the cells stored in the results database; energy sources are named in the "
       "tables, and configurations without measured energy, or that ran fewer tasks than the others, are left "
       "out of the charts.</p>\n";
  h += "<h2>Accuracy vs energy</h2>\n";
  h += scatter.empty() ? "<p>No configuration has measured energy.</p>\n"
                       : "<p>Bars: the accuracy's " + format_number("%g %%", 100 * s.confidence) +
                             " interval (each task's standard error, combined over the tasks). Green: the Pareto front.</p>\n" +
                             svg_scatter(scatter, "Accuracy vs energy", "energy for all tasks, J", "accuracy, %",
                                         kMinAccuracySpanPts) + "\n";
  if (!labels.empty()) {
    h += svg_bars(jpt_labels, jpt, "Energy per token", "J/token") + "\n";
    h += svg_bars(labels, eor, "EOR per configuration", "accuracy / Wh") + "\n";
    h += svg_bars(labels, tweor, "TWEOR per configuration", "accuracy / (Wh x s)") + "\n";
  }
  // Every cell's trace behind its own disclosure (no scripts): the first is open.
  h += "<h2>Power over time</h2>\n";
  if (page.power.empty()) h += "<p>No cell stored power samples.</p>\n";
  for (size_t i = 0; i < page.power.size(); ++i)
    h += std::string("<details") + (i == 0 ? " open" : "") + "><summary>" + escape_xml(page.power[i].cell) + "</summary>\n" +
         svg_lines(page.power[i].series, "Power: " + page.power[i].cell, "time in the cell (s)", "power (W)") + "\n</details>\n";
  h += markdown_to_html(render_markdown(s, o));
  return h + "</body></html>\n";
}

}  // namespace joule::report
