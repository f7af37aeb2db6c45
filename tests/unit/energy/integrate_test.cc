// Window arithmetic on analytic traces, and the accuracy of sampled power against a counter.
#include "energy/integrate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

namespace joule::energy {
namespace {

TEST(Integrate, TrapezoidIsExactOnLinearPower) {
  const std::vector<Point> p = {{0, 100}, {1, 200}, {3, 400}};
  EXPECT_DOUBLE_EQ(*integrate_power_j(p, 0, 3), 150 + 600);
  EXPECT_DOUBLE_EQ(*integrate_power_j(p, 0.5, 2), 0.5 * (150 + 200) * 0.5 + 0.5 * (200 + 300) * 1);
  EXPECT_DOUBLE_EQ(*integrate_power_j(p, 4, 5), 400);  // held flat beyond the last point
  EXPECT_DOUBLE_EQ(*integrate_power_j(p, 2, 2), 0);
  EXPECT_FALSE(integrate_power_j({}, 0, 1).has_value());
}

TEST(Integrate, InterpolateAndRates) {
  const std::vector<Point> e = {{0, 0}, {1, 10}, {2, 10}, {3, 40}};
  EXPECT_DOUBLE_EQ(*interpolate(e, 0.5), 5);
  EXPECT_DOUBLE_EQ(*interpolate(e, -1), 0);
  EXPECT_DOUBLE_EQ(*interpolate(e, 9), 40);
  EXPECT_DOUBLE_EQ(*peak_rate(e, 0, 3), 30);
  EXPECT_DOUBLE_EQ(*update_period_s(e), 2);  // changes at t = 1 and t = 3
  EXPECT_FALSE(update_period_s(std::vector<Point>{{0, 1}, {1, 1}}).has_value());
}

// A GPU-like power sensor: its reading changes every update_s and each value is the average of
// only the last avg_s of that period (A100/H100 average about 25 % of each 100 ms period, the
// "part-time" pitfall of nvidia-smi readings), while the energy counter integrates everything.
struct Trace {
  std::function<double(double)> power_w;  // true power at t
  double duration_s;
};

double exact_energy_j(const Trace& tr, double t0, double t1) {
  // Midpoint rule at <= 50 us steps: exact to ~1e-4 for these step functions.
  const int steps = std::max(1, static_cast<int>(std::ceil((t1 - t0) / 5e-5)));
  const double h = (t1 - t0) / steps;
  double e = 0;
  for (int i = 0; i < steps; ++i) e += tr.power_w(t0 + (i + 0.5) * h) * h;
  return e;
}

double sensor_reading_w(const Trace& tr, double t, double update_s, double avg_s) {
  const double u = std::floor(t / update_s) * update_s;  // the last update before t
  return exact_energy_j(tr, u - avg_s, u) / avg_s;
}

// Relative error of integrating sampled sensor readings at `hz` over the trace.
double sampled_error(const Trace& tr, double hz, double update_s, double avg_s, double phase_s) {
  std::vector<Point> p;
  for (double t = phase_s; t <= tr.duration_s; t += 1.0 / hz) p.push_back({t, sensor_reading_w(tr, t, update_s, avg_s)});
  const double sampled = *integrate_power_j(p, 0, tr.duration_s);
  const double exact = exact_energy_j(tr, 0, tr.duration_s);
  return (sampled - exact) / exact;
}

constexpr double kUpdateS = 0.1, kAvgS = 0.025;

// A square wave, 100 W / 300 W, 2 s period: every rate resolves it, 100 Hz best.
const Trace kSquare{[](double t) { return std::fmod(t, 2.0) < 1.0 ? 100.0 : 300.0; }, 10.0};
// 60 W idle with a 50 ms burst to 400 W every second: short work between samples.
const Trace kBursts{[](double t) {
                      const double ph = std::fmod(t, 1.0);
                      return ph >= 0.43 && ph < 0.48 ? 400.0 : 60.0;
                    },
                    10.0};

TEST(SamplingAccuracy, CounterIsExactSamplingMissesShortBursts) {
  std::printf("| trace | 1 Hz | 10 Hz | 100 Hz | counter |\n| --- | ---: | ---: | ---: | ---: |\n");
  for (const auto& [name, tr] : {std::pair{"square 100/300 W, 2 s period", kSquare},
                                 std::pair{"50 ms bursts to 400 W each second", kBursts}}) {
    double err[3];
    const double hz[3] = {1, 10, 100};
    for (int i = 0; i < 3; ++i) err[i] = sampled_error(tr, hz[i], kUpdateS, kAvgS, 0.013);
    std::printf("| %s | %+.1f %% | %+.1f %% | %+.1f %% | 0.0 %% |\n", name, 100 * err[0],
                100 * err[1], 100 * err[2]);
    if (tr.duration_s == kBursts.duration_s && name[0] == '5') {
      // 1 Hz never lands in a burst here: a large share of the energy is missed.
      EXPECT_LT(err[0], -0.2);
      // Even 100 Hz sees the bursts only through a sensor that averages 25 % of each period.
      EXPECT_GT(std::fabs(err[2]), 0.0);
    } else {
      EXPECT_LT(std::fabs(err[2]), 0.03);
    }
  }
  // The counter path: energy = difference of the integrated counter, exact by construction;
  // here through interpolate() on counter readings at arbitrary window ends.
  std::vector<Point> counter;
  double cumulative_j = 0;
  for (int i = 0; i <= 1000; ++i) {
    if (i > 0) cumulative_j += exact_energy_j(kBursts, (i - 1) * 0.01, i * 0.01);
    counter.push_back({i * 0.01, cumulative_j});
  }
  const double w = *interpolate(counter, 4.0) - *interpolate(counter, 3.0);
  EXPECT_NEAR(w, exact_energy_j(kBursts, 3.0, 4.0), 1e-6);
}

}  // namespace
}  // namespace joule::energy
