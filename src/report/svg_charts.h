// Small self-contained SVG charts for the HTML report (no scripts, no external files).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace joule::report {

struct Point {
  double x = 0, y = 0;
  std::string label;
  std::optional<double> y_low, y_high;  // an error bar (the interval around y); none when absent
};

// Axis ticks at round values: a step of 1, 2 or 5 times a power of ten giving about `target`
// intervals over `span` (> 0).
double nice_step(double span, int target = 5);

// Where a chart draws its labels: boxes in SVG pixels, placed so that no two intersect.
struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool intersects(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Indices of the points no other point beats: x (cost) no larger and y (value) no smaller, one
// of them strictly. Sorted by x.
std::vector<size_t> pareto_front(const std::vector<Point>& pts);

// A scatter plot with labelled points and their error bars; the Pareto front (low x, high y) drawn
// as a line. Labels are placed beside their points where they fit without touching another label
// or point (farther out with a leader line if need be); when some label fits nowhere, points are
// numbered instead and named in a legend below the plot. `y_min_span`: the y axis spans at least
// this much, so a small difference does not fill the whole chart. The x axis starts at 0.
std::string svg_scatter(const std::vector<Point>& pts, const std::string& title, const std::string& x_label,
                        const std::string& y_label, double y_min_span = 0);
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
