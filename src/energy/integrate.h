// The arithmetic of measurement windows, kept pure so it can be tested on analytic traces.
#pragma once

#include <optional>
#include <span>

namespace joule::energy {

// A point of a domain's series: time and the quantity read then (power W or cumulative J).
struct Point {
  double t_s;
  double v;
};

// Trapezoidal integral of power samples over [t0, t1]. Points are time-sorted; the series is
// linearly interpolated at t0 and t1 (held flat beyond its ends). nullopt with no points.
std::optional<double> integrate_power_j(std::span<const Point> power, double t0, double t1);

// A cumulative series (energy J) at time t: linear between points, held flat beyond the ends.
std::optional<double> interpolate(std::span<const Point> series, double t);

// The largest rate of change between consecutive points of a cumulative series within
// [t0, t1] (the peak power a counter shows at its sampling rate); nullopt if none.
std::optional<double> peak_rate(std::span<const Point> energy, double t0, double t1);

// The shortest positive interval between changes of a cumulative series: how often the
// counter behind it updates (as seen at this sampling rate); nullopt if it changed < 2 times.
std::optional<double> update_period_s(std::span<const Point> energy);

}  // namespace joule::energy
