#include "report/html.h"

#include <sstream>

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

std::string render_html(const Summary& s, const ReportOptions& o, const std::string& title,
                        const std::vector<Series>& power, const std::string& power_title) {
  std::vector<Point> scatter;
  std::vector<std::string> labels;
  std::vector<double> eor, tweor;
  for (const ConfigSummary& c : s.configs) {
    if (!c.energy_j) continue;  // only measured energy is drawn
    const std::string label = c.name() + (s.configs.front().model == c.model ? "" : " " + c.model);
    scatter.push_back({*c.energy_j, 100 * c.score, label});
    labels.push_back(label);
    eor.push_back(*c.eor());
    tweor.push_back(c.tweor().value_or(0));
  }
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_xml(title) +
                  "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
                  "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
                  "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
                  "td:first-child,th:first-child{text-align:left}svg{margin:1em 0;display:block}</style></head><body>\n";
  h += "<h1>" + escape_xml(title) + "</h1>\n";
  h += "<p>Every figure below comes from the cells stored in the results database; energy sources are named in the "
       "tables, and configurations without measured energy are left out of the charts.</p>\n";
  h += "<h2>Accuracy vs energy</h2>\n";
  h += scatter.empty() ? "<p>No configuration has measured energy.</p>\n"
                       : svg_scatter(scatter, "Accuracy vs energy (green: Pareto front)", "energy per study pass (J)",
                                     "accuracy (%)") + "\n";
  if (!labels.empty()) {
    h += svg_bars(labels, eor, "EOR per configuration", "accuracy / Wh") + "\n";
    h += svg_bars(labels, tweor, "TWEOR per configuration", "accuracy / (Wh x s)") + "\n";
  }
  h += "<h2>Power over time</h2>\n";
  h += power.empty() ? "<p>No power samples were stored for " + escape_xml(power_title) + ".</p>\n"
                     : svg_lines(power, "Power: " + power_title, "seconds", "W") + "\n";
  h += markdown_to_html(render_markdown(s, o));
  return h + "</body></html>\n";
}

}  // namespace joule::report
