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

// A tick value printed with the decimals its step needs (0.25 steps: "0.25", 500 steps: "1500").
std::string tick_text(double v, double step) {
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  char b[32];
  std::snprintf(b, sizeof(b), "%.*f", decimals, std::abs(v) < step * 1e-9 ? 0.0 : v);
  return b;
}

// An axis over [lo, hi] widened to round ticks. `min_span` widens a narrow range around its middle;
// `from_zero` starts it at 0 (quantities whose ratios matter, such as energy).
struct Axis {
  double lo, hi, step;
  Axis(double a, double b, double min_span = 0, bool from_zero = false) : lo(a), hi(b) {
    if (from_zero) lo = std::min(lo, 0.0);
    if (hi - lo < min_span) {
      const double mid = (lo + hi) / 2;
      lo = mid - min_span / 2, hi = mid + min_span / 2;
      if (a >= 0 && lo < 0) hi -= lo, lo = 0;  // non-negative data keeps a non-negative axis
    }
    if (!(hi > lo)) {  // one value (or none): open a window around it
      const double pad = std::abs(lo) > 0 ? std::abs(lo) * 0.1 : 1;
      lo = a >= 0 ? std::max(0.0, lo - pad) : lo - pad, hi += pad;
    }
    step = nice_step(hi - lo);
    lo = std::floor(lo / step + 1e-9) * step;
    hi = std::ceil(hi / step - 1e-9) * step;
  }
  double at(double v, double from, double to) const { return from + (v - lo) / (hi - lo) * (to - from); }
  std::vector<double> ticks() const {
    std::vector<double> out;
    const int n = static_cast<int>(std::lround((hi - lo) / step));
    for (int i = 0; i <= n; ++i) out.push_back(lo + step * i);
    return out;
  }
};

std::string svg_open(double w, double h) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" viewBox=\"0 0 " +
         num(w) + " " + num(h) + "\" font-family=\"sans-serif\" font-size=\"11\">";
}

std::string frame(const std::string& title, const std::string& x_label, const std::string& y_label, const Axis& x,
                  const Axis& y, double height = kH) {
  std::string s = svg_open(kW, height);
  s += "<text x=\"" + num(kW / 2) + "\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">" + escape_xml(title) + "</text>";
  s += "<rect x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" + num(kW - kLeft - kRight) + "\" height=\"" +
       num(kH - kTop - kBottom) + "\" fill=\"none\" stroke=\"#888\"/>";
  for (const double v : x.ticks())
    // Low enough that the first one clears the y axis's lowest tick label at the corner.
    s += "<text x=\"" + num(x.at(v, kLeft, kW - kRight)) + "\" y=\"" + num(kH - kBottom + 18) + "\" text-anchor=\"middle\">" +
         tick_text(v, x.step) + "</text>";
  for (const double v : y.ticks())
    s += "<text x=\"" + num(kLeft - 4) + "\" y=\"" + num(y.at(v, kH - kBottom, kTop) + 4) + "\" text-anchor=\"end\">" +
         tick_text(v, y.step) + "</text>";
  s += "<text x=\"" + num((kLeft + kW - kRight) / 2) + "\" y=\"" + num(kH - 12) + "\" text-anchor=\"middle\">" +
       escape_xml(x_label) + "</text>";
  s += "<text transform=\"translate(14," + num((kTop + kH - kBottom) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       escape_xml(y_label) + "</text>";
  return s;
}

// An 11 px sans-serif label's box, drawn with text-anchor start at (x, baseline y): widths are
// overestimated (7 px a character) so that real fonts fit inside.
constexpr double kCharW = 7, kTextH = 13;
Box text_box(double x, double baseline, const std::string& text) {
  return {x, baseline - kTextH + 3, x + kCharW * static_cast<double>(text.size()), baseline + 3};
}

constexpr double kLeaderPx = 10;  // a label set farther than this from its point gets a leader line

// Where a leader line from (px, py) meets box `b`.
std::pair<double, double> leader_end(const Box& b, double px, double py) {
  return {std::clamp(px, b.x0, b.x1), std::clamp(py, b.y0, b.y1)};
}

// The leader line from (px, py) to `b` (if it needs one) passes over another point, which would
// make the label seem to name that point.
bool leader_crosses(double px, double py, const Box& b, const std::vector<std::pair<double, double>>& points) {
  const auto [cx, cy] = leader_end(b, px, py);
  const double dx = cx - px, dy = cy - py, len2 = dx * dx + dy * dy;
  if (len2 <= kLeaderPx * kLeaderPx) return false;
  for (const auto& [qx, qy] : points) {
    if (qx == px && qy == py) continue;
    const double t = std::clamp(((qx - px) * dx + (qy - py) * dy) / len2, 0.0, 1.0);
    if (std::hypot(px + t * dx - qx, py + t * dy - qy) < 7) return true;
  }
  return false;
}

// The first spot beside (px, py), nearest first, where `text` fits inside the plot without touching
// `taken` and without a leader line over another of `points`; none when it fits nowhere. Returns
// the text's start and baseline.
std::optional<std::pair<double, double>> place(double px, double py, const std::string& text, const std::vector<Box>& taken,
                                               const std::vector<std::pair<double, double>>& points) {
  const double w = kCharW * static_cast<double>(text.size());
  std::vector<std::pair<double, double>> spots;  // nearest first: beside, then stepped up and down, then above / below
  for (double d : {8.0, 18.0, 30.0, 46.0, 64.0}) {
    for (double dy : {0.0, -14.0, 14.0, -28.0, 28.0, -42.0, 42.0}) {
      spots.emplace_back(px + d, py + 4 + dy);
      spots.emplace_back(px - d - w, py + 4 + dy);
    }
    for (double x : {px - w / 2, px - w, px}) {  // centred, ending at the point, starting at it
      spots.emplace_back(x, py - d);
      spots.emplace_back(x, py + d + 9);
    }
  }
  for (const auto& [x, y] : spots) {
    const Box b = text_box(x, y, text);
    if (b.x0 < kLeft + 2 || b.x1 > kW - kRight - 2 || b.y0 < kTop + 2 || b.y1 > kH - kBottom - 2) continue;
    if (std::none_of(taken.begin(), taken.end(), [&](const Box& t) { return t.intersects(b); }) &&
        !leader_crosses(px, py, b, points))
      return std::pair(x, y);
  }
  return std::nullopt;
}

// Labels for every point, or nothing when one of them fits nowhere. Each entry: the text's start
// and baseline.
std::optional<std::vector<std::pair<double, double>>> place_all(const std::vector<std::pair<double, double>>& at,
                                                                const std::vector<std::string>& texts,
                                                                std::vector<Box> taken) {
  std::vector<std::pair<double, double>> out;
  for (size_t i = 0; i < at.size(); ++i) {
    const auto spot = place(at[i].first, at[i].second, texts[i], taken, at);
    if (!spot) return std::nullopt;
    taken.push_back(text_box(spot->first, spot->second, texts[i]));
    out.push_back(*spot);
  }
  return out;
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

double nice_step(double span, int target) {
  const double raw = span / target, p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * p * (1 + 1e-9)) return m * p;
  return 10 * p;
}

std::string svg_scatter(const std::vector<Point>& pts, const std::string& title, const std::string& x_label,
                        const std::string& y_label, double y_min_span) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const Point& p : pts) {
    x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
    y0 = std::min({y0, p.y, p.y_low.value_or(p.y)}), y1 = std::max({y1, p.y, p.y_high.value_or(p.y)});
  }
  if (pts.empty()) x0 = x1 = y0 = y1 = 0;
  const Axis ax(x0, x1, 0, true), ay(y0, y1, y_min_span);
  std::vector<std::pair<double, double>> at;
  std::vector<Box> marks;  // the points and their error bars' lines: labels stay off them
  for (const Point& p : pts) {
    const double px = ax.at(p.x, kLeft, kW - kRight), py = ay.at(p.y, kH - kBottom, kTop);
    at.emplace_back(px, py);
    marks.push_back({px - 6, py - 6, px + 6, py + 6});
    if (p.y_low && p.y_high)
      marks.push_back({px - 1, ay.at(*p.y_high, kH - kBottom, kTop), px + 1, ay.at(*p.y_low, kH - kBottom, kTop)});
  }
  std::vector<std::string> texts;
  for (const Point& p : pts) texts.push_back(p.label);
  auto spots = place_all(at, texts, marks);
  const bool legend = !spots;
  if (legend) {  // numbers instead, named below the plot
    texts.clear();
    for (size_t i = 0; i < pts.size(); ++i) texts.push_back(std::to_string(i + 1));
    spots = place_all(at, texts, marks);
  }
  const double height = legend ? kH + 16.0 * static_cast<double>(pts.size()) + 8 : kH;
  std::string s = frame(title, x_label, y_label, ax, ay, height);
  const std::vector<size_t> front = pareto_front(pts);
  std::string line;
  for (size_t i : front) line += num(at[i].first) + "," + num(at[i].second) + " ";
  if (front.size() > 1) s += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"#2ca02c\" stroke-dasharray=\"4 3\"/>";
  for (size_t i = 0; i < pts.size(); ++i) {
    const bool on_front = std::find(front.begin(), front.end(), i) != front.end();
    const auto [px, py] = at[i];
    const Point& p = pts[i];
    if (p.y_low && p.y_high) {
      const double lo = ay.at(*p.y_low, kH - kBottom, kTop), hi = ay.at(*p.y_high, kH - kBottom, kTop);
      s += "<path d=\"M" + num(px) + " " + num(lo) + "V" + num(hi) + "M" + num(px - 4) + " " + num(lo) + "h8M" + num(px - 4) +
           " " + num(hi) + "h8\" stroke=\"#555\" fill=\"none\"/>";
    }
    s += "<circle cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"5\" fill=\"" + (on_front ? "#2ca02c" : "#1f77b4") +
         "\"><title>" + escape_xml(p.label) + "</title></circle>";
    if (!spots) continue;  // not even numbers fit: the legend still names every point by its values
    const auto [tx, ty] = (*spots)[i];
    const Box b = text_box(tx, ty, texts[i]);
    const auto [cx, cy] = leader_end(b, px, py);
    if (std::hypot(cx - px, cy - py) > kLeaderPx)
      s += "<line x1=\"" + num(px) + "\" y1=\"" + num(py) + "\" x2=\"" + num(cx) + "\" y2=\"" + num(cy) + "\" stroke=\"#aaa\"/>";
    s += "<text x=\"" + num(tx) + "\" y=\"" + num(ty) + "\">" + escape_xml(texts[i]) + "</text>";
  }
  for (size_t i = 0; legend && i < pts.size(); ++i)
    s += "<text x=\"" + num(kLeft) + "\" y=\"" + num(kH + 12 + 16.0 * static_cast<double>(i)) + "\">" +
         escape_xml((spots ? std::to_string(i + 1) + "  " : "") + pts[i].label + " (" + num(pts[i].x) + ", " + num(pts[i].y) + ")") +
         "</text>";
  return s + "</svg>";
}

std::string svg_bars(const std::vector<std::string>& labels, const std::vector<double>& values, const std::string& title,
                     const std::string& value_label) {
  const double h = kTop + 26.0 * static_cast<double>(labels.size()) + 30, left = 200, right = 80;
  double vmax = 0;
  for (double v : values) vmax = std::max(vmax, v);
  if (vmax <= 0) vmax = 1;
  std::string s = svg_open(kW, h);
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
  const Axis ax(x0, x1), ay(y0, y1, 0, true);
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
