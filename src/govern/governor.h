// The power and thermal governor of joule serve: once per interval it takes what was measured
// (average power over the interval, the hottest temperature, the latency of the requests that
// finished) and decides (1) the device controls (power and frequency limits), and (2) beyond
// them, the serving loop's own levers: pausing admission of low, then normal requests, and pacing
// steps (rest between them). Urgent work is the last thing slowed: its admission is never paused,
// and steps that carry urgent work are paced only at full throttle.
//
// Pure logic over Control objects and numbers: no clock, no threads, no engine. Tested with fake
// sysfs trees and scripted traces (tests/unit/govern).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "govern/controls.h"
#include "sched/request.h"

namespace joule::govern {

struct GovernorConfig {
  std::optional<double> power_cap_w = std::nullopt;  // hold the measured power at or below this
  std::optional<double> max_temp_c = std::nullopt;   // gate above this ...
  double temp_margin_c = 5;           // ... until back under max_temp_c - margin
  // The DVFS policy (--governor energy): the lowest device setting that still meets these
  // (p90 of the interval's finished requests), raised at once when one is missed.
  bool energy_policy = false;
  std::optional<double> slo_tpot_ms = std::nullopt;
  std::optional<double> slo_ttft_ms = std::nullopt;
};

// What was measured over the last interval.
struct GovernorSample {
  double now_s = 0;
  std::optional<double> power_w = std::nullopt;  // the meter's average over the interval, any source
  std::optional<double> temp_c = std::nullopt;   // the hottest sensor
  std::optional<double> tpot_p90_ms = std::nullopt;
  std::optional<double> ttft_p90_ms = std::nullopt;
};

// The serving loop's levers until the next update.
struct Throttle {
  std::array<bool, sched::kNumPriorities> admit = {true, true, true};  // a paused class waits in its queue
  double duty = 1;           // share of wall time spent in steps; after a step of d s, rest d (1 - duty) / duty
  bool pace_urgent = false;  // also rest after steps that carry urgent work
};

struct Decision {
  double t_s = 0;
  std::string setting;  // "cpufreq", "admission:low", "duty"
  std::string from, to;
  std::string reason;   // "power 31.2 W > cap 25 W", "temperature 91 C > 85 C", ...
};

class Governor {
 public:
  // Actuators that cannot be written are left out (with a decision saying so); the rest are
  // turned in order, one step of their range per interval.
  Governor(GovernorConfig config, std::vector<Control*> controls);

  Throttle update(const GovernorSample& s);
  const Throttle& throttle() const { return throttle_; }
  std::vector<Decision> take_decisions();
  const GovernorConfig& config() const { return config_; }
  // Device settings back to what they were (the caller also does so on exit).
  Status restore();

  // Where the actuators stand: 0 = as found, 1 = every one at its minimum.
  double actuator_level() const;

 private:
  void log(double t_s, std::string setting, std::string from, std::string to, std::string reason);
  void apply_actuators(double t_s, const std::string& reason);
  void set_throttle(double t_s, const Throttle& next, const std::string& reason);

  GovernorConfig config_;
  std::vector<Control*> actuators_;
  std::vector<Decision> decisions_;
  Throttle throttle_;
  // Each policy's wish for the actuators (0 = as found, 1 = minimum); the strictest wins.
  double power_level_ = 0, thermal_level_ = 0, energy_level_ = 0;
  double applied_level_ = 0;
  double admission_level_ = 0;  // the power cap's integrator beyond the actuators, 0..1
  int thermal_stage_ = 0;       // 0 none, 1 low paused, 2 normal paused too
  double logged_duty_ = 1;
};

}  // namespace joule::govern
