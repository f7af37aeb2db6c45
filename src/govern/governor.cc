#include "govern/governor.h"

#include <algorithm>

#include "core/strings.h"

namespace joule::govern {
namespace {

constexpr double kStep = 0.1;       // of an actuator's range per interval
constexpr double kGain = 0.5;       // admission integrator: change per unit of relative power error
constexpr double kMinDuty = 0.05;   // steps never stop altogether: running requests must end
constexpr double kHeadroom = 0.9;   // actuators relax only below 90 % of the cap (no dithering at it)
constexpr double kSlack = 0.8;      // the energy policy lowers settings only with 20 % latency slack

std::string num(double v) { return format_number("%.4g", v); }

bool above(const std::optional<double>& measured, const std::optional<double>& target, double factor = 1) {
  return measured && target && *measured > *target * factor;
}

}  // namespace

Governor::Governor(GovernorConfig config, std::vector<Control*> controls) : config_(std::move(config)) {
  for (Control* c : controls) {
    if (c->info().writable) actuators_.push_back(c);
    else log(0, c->info().name, num(c->info().original), num(c->info().original), "not used: " + c->info().why_not);
  }
}

double Governor::actuator_level() const { return applied_level_; }

void Governor::log(double t_s, std::string setting, std::string from, std::string to, std::string reason) {
  decisions_.push_back({t_s, std::move(setting), std::move(from), std::move(to), std::move(reason)});
}

std::vector<Decision> Governor::take_decisions() { return std::exchange(decisions_, {}); }

Throttle Governor::update(const GovernorSample& s) {
  std::string power_reason, thermal_reason, energy_reason;

  if (config_.power_cap_w && s.power_w) {
    const double cap = *config_.power_cap_w, p = *s.power_w;
    const double err = (p - cap) / cap;
    power_reason = "power " + num(p) + " W " + (p > cap ? "> cap " : "<= cap ") + num(cap) + " W";
    if (p > cap) {
      // The device's own limits first; admission and pacing only beyond them.
      if (!actuators_.empty() && power_level_ < 1) power_level_ = std::min(1.0, power_level_ + kStep);
      else admission_level_ = std::min(1.0, admission_level_ + kGain * err);
    } else if (admission_level_ > 0) {
      admission_level_ = std::max(0.0, admission_level_ + kGain * err);  // the costlier lever goes first
    } else if (power_level_ > 0 && p < kHeadroom * cap) {
      power_level_ = std::max(0.0, power_level_ - kStep);
    }
  }

  if (config_.max_temp_c && s.temp_c) {
    const double t = *s.temp_c, hot = *config_.max_temp_c, cool = hot - config_.temp_margin_c;
    if (t > hot) {
      thermal_stage_ = std::min(2, thermal_stage_ + 1);
      thermal_level_ = std::min(1.0, thermal_level_ + kStep);
      thermal_reason = "temperature " + num(t) + " C > " + num(hot) + " C";
    } else if (t < cool && (thermal_stage_ > 0 || thermal_level_ > 0)) {
      thermal_stage_ = std::max(0, thermal_stage_ - 1);
      thermal_level_ = std::max(0.0, thermal_level_ - kStep);
      thermal_reason = "temperature " + num(t) + " C < " + num(cool) + " C";
    }
  }

  if (config_.energy_policy) {
    const bool missed = above(s.tpot_p90_ms, config_.slo_tpot_ms) || above(s.ttft_p90_ms, config_.slo_ttft_ms);
    const bool measured = (!config_.slo_tpot_ms || s.tpot_p90_ms) && (!config_.slo_ttft_ms || s.ttft_p90_ms) &&
                          (config_.slo_tpot_ms || config_.slo_ttft_ms);
    const bool slack = measured && !above(s.tpot_p90_ms, config_.slo_tpot_ms, kSlack) &&
                       !above(s.ttft_p90_ms, config_.slo_ttft_ms, kSlack);
    auto latency = [&] {
      return "p90 TPOT " + (s.tpot_p90_ms ? num(*s.tpot_p90_ms) : std::string("-")) + " ms, TTFT " +
             (s.ttft_p90_ms ? num(*s.ttft_p90_ms) : std::string("-")) + " ms";
    };
    if (missed) {
      energy_level_ = 0;  // at once
      energy_reason = "latency target missed: " + latency();
    } else if (slack && energy_level_ < 1) {
      energy_level_ = std::min(1.0, energy_level_ + kStep);
      energy_reason = "latency has slack: " + latency();
    }
  }

  // The strictest wish wins; its reason is logged with the change.
  const double level = std::max({power_level_, thermal_level_, energy_level_});
  const std::string& reason = level == power_level_ && !power_reason.empty()       ? power_reason
                              : level == thermal_level_ && !thermal_reason.empty() ? thermal_reason
                              : !energy_reason.empty()                             ? energy_reason
                              : !power_reason.empty()                              ? power_reason
                                                                                   : thermal_reason;
  if (level != applied_level_) {
    applied_level_ = level;
    apply_actuators(s.now_s, reason);
  }

  Throttle next;
  next.admit[size_t(sched::index_of(sched::Priority::kLow))] = admission_level_ == 0 && thermal_stage_ < 1;
  next.admit[size_t(sched::index_of(sched::Priority::kNormal))] = admission_level_ < 0.5 && thermal_stage_ < 2;
  next.duty = std::max(kMinDuty, 1 - admission_level_ * (1 - kMinDuty));
  next.pace_urgent = admission_level_ >= 1;
  set_throttle(s.now_s, next, thermal_stage_ > 0 && !thermal_reason.empty() ? thermal_reason : power_reason);
  return throttle_;
}

void Governor::apply_actuators(double t_s, const std::string& reason) {
  for (auto it = actuators_.begin(); it != actuators_.end();) {
    Control& c = **it;
    const ControlInfo& info = c.info();
    const double top = std::clamp(info.original, info.min, info.max);
    const double want = top - applied_level_ * (top - info.min);
    const double before = c.value();
    if (want == before) {
      ++it;
      continue;
    }
    if (Status st = c.set(want); !st.ok()) {
      // Degrade to the next lever: this control is not tried again.
      log(t_s, info.name, num(before), num(before), "failed (" + st.message() + "); not used any more");
      it = actuators_.erase(it);
      continue;
    }
    log(t_s, info.name, num(before) + " " + info.unit, num(want) + " " + info.unit, reason);
    ++it;
  }
}

void Governor::set_throttle(double t_s, const Throttle& next, const std::string& reason) {
  for (int i = 0; i < sched::kNumPriorities; ++i)
    if (next.admit[size_t(i)] != throttle_.admit[size_t(i)])
      log(t_s, "admission:" + std::string(sched::priority_name(sched::Priority(i))),
          throttle_.admit[size_t(i)] ? "open" : "paused", next.admit[size_t(i)] ? "open" : "paused", reason);
  // Duty moves a little every interval: logged when it has moved by 0.05 or returns to 1.
  if (std::abs(next.duty - logged_duty_) >= 0.05 || (next.duty == 1 && logged_duty_ != 1)) {
    log(t_s, "duty", format_number("%.2f", logged_duty_), format_number("%.2f", next.duty), reason);
    logged_duty_ = next.duty;
  }
  if (next.pace_urgent != throttle_.pace_urgent)
    log(t_s, "pace:urgent", throttle_.pace_urgent ? "on" : "off", next.pace_urgent ? "on" : "off", reason);
  throttle_ = next;
}

Status Governor::restore() {
  Status first = Status::Ok();
  for (Control* c : actuators_)
    if (Status s = c->restore(); !s.ok() && first.ok()) first = s;
  applied_level_ = 0;
  return first;
}

}  // namespace joule::govern
