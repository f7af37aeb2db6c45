// Small self-contained SVG charts for the HTML report (no scripts, no external files).
#pragma once

#include <string>
#include <vector>

namespace joule::report {

struct Point {
  double x = 0, y = 0;
  std::string label;
};

// Indices of the points no other point beats: x (cost) no larger and y (value) no smaller, one
// of them strictly. Sorted by x.
std::vector<size_t> pareto_front(const std::vector<Point>& pts);

// A scatter plot with labelled points; the Pareto front (low x, high y) drawn as a line.
std::string svg_scatter(const std::vector<Point>& pts, const std::string& title, const std::string& x_label,
                        const std::string& y_label);
// Horizontal bars, one per label.
std::string svg_bars(const std::vector<std::string>& labels, const std::vector<double>& values, const std::string& title,
                     const std::string& value_label);
// One line per series over time.
struct Series {
  std::string name;
  std::vector<double> t_s, y;
};
std::string svg_lines(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                      const std::string& y_label);

// Text made safe inside HTML/SVG.
std::string escape_xml(const std::string& s);

}  // namespace joule::report
