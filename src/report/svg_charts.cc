#include "report/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace joule::report {
namespace {

constexpr double kW = 640, kH = 360, kLeft = 70, kRight = 20, kTop = 36, kBottom = 50;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"};

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.4g", v);
  return b;
}

struct Axis {
  double lo, hi;
  Axis(double a, double b) : lo(a), hi(b) {
    if (!(hi > lo)) {  // one value (or none): open a window around it
      const double pad = std::abs(lo) > 0 ? std::abs(lo) * 0.1 : 1;
      lo -= pad, hi += pad;
    }
    const double pad = (hi - lo) * 0.08;
    lo = lo >= 0 && lo - pad < 0 ? 0 : lo - pad;  // non-negative data keeps a non-negative axis
    hi += pad;
  }
  double at(double v, double from, double to) const { return from + (v - lo) / (hi - lo) * (to - from); }
};

std::string frame(const std::string& title, const std::string& x_label, const std::string& y_label, const Axis& x,
                  const Axis& y) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" + num(kH) +
                  "\" viewBox=\"0 0 " + num(kW) + " " + num(kH) + "\" font-family=\"sans-serif\" font-size=\"11\">";
  s += "<text x=\"" + num(kW / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + escape_xml(title) + "</text>";
  s += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kW - kLeft - kRight) + "\" height=\"" +
       num(kH - kTop - kBottom) + "\" fill=\"none\" stroke=\"#888\"/>";
  for (int i = 0; i <= 4; ++i) {  // ticks
    const double xv = x.lo + (x.hi - x.lo) * i / 4, yv = y.lo + (y.hi - y.lo) * i / 4;
    const double px = x.at(xv, kLeft, kW - kRight), py = y.at(yv, kH - kBottom, kTop);
    s += "<text x=\"" + num(px) + "\" y=\"" + num(kH - kBottom + 14) + "\" text-anchor=\"middle\">" + num(xv) + "</text>";
    s += "<text x=\"" + num(kLeft - 4) + "\" y=\"" + num(py + 4) + "\" text-anchor=\"end\">" + num(yv) + "</text>";
  }
  s += "<text x=\"" + num((kLeft + kW - kRight) / 2) + "\" y=\"" + num(kH - 12) + "\" text-anchor=\"middle\">" +
       escape_xml(x_label) + "</text>";
  s += "<text transform=\"translate(14," + num((kTop + kH - kBottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape_xml(y_label) + "</text>";
  return s;
}

}  // namespace

std::string escape_xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<size_t> pareto_front(const std::vector<Point>& pts) {
  std::vector<size_t> front;
  for (size_t i = 0; i < pts.size(); ++i) {
    bool beaten = false;
    for (size_t j = 0; j < pts.size() && !beaten; ++j)
      beaten = j != i && pts[j].x <= pts[i].x && pts[j].y >= pts[i].y && (pts[j].x < pts[i].x || pts[j].y > pts[i].y);
    if (!beaten) front.push_back(i);
  }
  std::sort(front.begin(), front.end(), [&](size_t a, size_t b) { return pts[a].x < pts[b].x; });
  return front;
}

std::string svg_scatter(const std::vector<Point>& pts, const std::string& title, const std::string& x_label,
                        const std::string& y_label) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Point& p : pts) x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
  if (pts.empty()) x0 = x1 = y0 = y1 = 0;
  const Axis ax(x0, x1), ay(y0, y1);
  std::string s = frame(title, x_label, y_label, ax, ay);
  const std::vector<size_t> front = pareto_front(pts);
  std::string line;
  for (size_t i : front)
    line += num(ax.at(pts[i].x, kLeft, kW - kRight)) + "," + num(ay.at(pts[i].y, kH - kBottom, kTop)) + " ";
  if (front.size() > 1) s += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"#2ca02c\" stroke-dasharray=\"4 3\"/>";
  for (size_t i = 0; i < pts.size(); ++i) {
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    const double px = ax.at(pts[i].x, kLeft, kW - kRight), py = ay.at(pts[i].y, kH - kBottom, kTop);
    s += "<circle cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"5\" fill=\"" + (on_front ? "#2ca02c" : "#1f77b4") +
         "\"><title>" + escape_xml(pts[i].label) + "</title></circle>";
    const bool left = px > kW / 2;  // labels grow away from the right edge
    s += "<text x=\"" + num(left ? px - 7 : px + 7) + "\" y=\"" + num(py - 6) + "\" text-anchor=\"" +
         (left ? "end" : "start") + "\">" + escape_xml(pts[i].label) + "</text>";
  }
  return s + "</svg>";
}

std::string svg_bars(const std::vector<std::string>& labels, const std::vector<double>& values, const std::string& title,
                     const std::string& value_label) {
  const double h = kTop + 26.0 * static_cast<double>(labels.size()) + 30, left = 200, right = 80;
  double vmax = 0;
  for (double v : values) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(kW) + "\" height=\"" + num(h) +
                  "\" viewBox=\"0 0 " + num(kW) + " " + num(h) + "\" font-family=\"sans-serif\" font-size=\"11\">";
  s += "<text x=\"" + num(kW / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + escape_xml(title) + " (" +
       escape_xml(value_label) + ")</text>";
  for (size_t i = 0; i < labels.size(); ++i) {
    const double y = kTop + 26.0 * static_cast<double>(i), w = (kW - left - right) * std::max(0.0, values[i]) / vmax;
    s += "<text x=\"" + num(left - 6) + "\" y=\"" + num(y + 14) + "\" text-anchor=\"end\">" + escape_xml(labels[i]) + "</text>";
    s += "<rect x=\"" + num(left) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"18\" fill=\"" +
         kColors[i % std::size(kColors)] + "\"/>";
    s += "<text x=\"" + num(left + w + 4) + "\" y=\"" + num(y + 14) + "\">" + num(values[i]) + "</text>";
  }
  return s + "</svg>";
}

std::string svg_lines(const std::vector<Series>& series, const std::string& title, const std::string& x_label,
                      const std::string& y_label) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = 0, y1 = -INFINITY;
  for (const Series& se : series)
    for (size_t i = 0; i < se.t_s.size(); ++i)
      x0 = std::min(x0, se.t_s[i]), x1 = std::max(x1, se.t_s[i]), y1 = std::max(y1, se.y[i]);
  if (x0 > x1) x0 = x1 = y1 = 0;
  const Axis ax(x0, x1), ay(y0, y1);
  std::string s = frame(title, x_label, y_label, ax, ay);
  for (size_t k = 0; k < series.size(); ++k) {
    std::string pts;
    for (size_t i = 0; i < series[k].t_s.size(); ++i)
      pts += num(ax.at(series[k].t_s[i], kLeft, kW - kRight)) + "," + num(ay.at(series[k].y[i], kH - kBottom, kTop)) + " ";
    s += "<polyline points=\"" + pts + "\" fill=\"none\" stroke=\"" + kColors[k % std::size(kColors)] + "\"/>";
    s += "<text x=\"" + num(kW - kRight - 4) + "\" y=\"" + num(kTop + 14 + 14.0 * static_cast<double>(k)) +
         "\" text-anchor=\"end\" fill=\"" + kColors[k % std::size(kColors)] + "\">" + escape_xml(series[k].name) + "</text>";
  }
  return s + "</svg>";
}

}  // namespace joule::report
