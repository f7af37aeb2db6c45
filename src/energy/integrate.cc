#include "energy/integrate.h"

#include <algorithm>

namespace joule::energy {

std::optional<double> interpolate(std::span<const Point> s, double t) {
  if (s.empty()) return std::nullopt;
  if (t <= s.front().t_s) return s.front().v;
  if (t >= s.back().t_s) return s.back().v;
  const auto hi = std::lower_bound(s.begin(), s.end(), t, [](const Point& p, double x) { return p.t_s < x; });
  const auto lo = hi - 1;
  const double dt = hi->t_s - lo->t_s;
  return dt > 0 ? lo->v + (hi->v - lo->v) * (t - lo->t_s) / dt : hi->v;
}

std::optional<double> integrate_power_j(std::span<const Point> p, double t0, double t1) {
  if (p.empty()) return std::nullopt;
  if (t1 <= t0) return 0.0;
  double e = 0;
  double prev_t = t0, prev_v = *interpolate(p, t0);
  for (const Point& q : p) {
    if (q.t_s <= t0) continue;
    if (q.t_s >= t1) break;
    e += 0.5 * (prev_v + q.v) * (q.t_s - prev_t);
    prev_t = q.t_s;
    prev_v = q.v;
  }
  e += 0.5 * (prev_v + *interpolate(p, t1)) * (t1 - prev_t);
  return e;
}

std::optional<double> peak_rate(std::span<const Point> e, double t0, double t1) {
  std::optional<double> best;
  for (size_t i = 1; i < e.size(); ++i) {
    if (e[i].t_s <= t0 || e[i - 1].t_s >= t1) continue;
    const double dt = e[i].t_s - e[i - 1].t_s;
    if (dt <= 0) continue;
    const double r = (e[i].v - e[i - 1].v) / dt;
    if (!best || r > *best) best = r;
  }
  return best;
}

std::optional<double> update_period_s(std::span<const Point> e) {
  std::optional<double> best;
  double last_change = 0;
  bool seen = false;
  for (size_t i = 1; i < e.size(); ++i) {
    if (e[i].v == e[i - 1].v) continue;
    if (seen) {
      const double gap = e[i].t_s - last_change;
      if (gap > 0 && (!best || gap < *best)) best = gap;
    }
    last_change = e[i].t_s;
    seen = true;
  }
  return best;
}

}  // namespace joule::energy
