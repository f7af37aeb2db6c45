// Device controls joule may turn to hold power and temperature: a power limit (RAPL, NVML) or a
// frequency limit (cpufreq), each with its allowed range, the value joule found (restored on exit)
// and whether joule may change it here. A root directory per kind is overridable by an
// environment variable (JOULE_CPUFREQ_ROOT, JOULE_POWERCAP_ROOT; NVML through
// JOULE_NVML_LIBRARY), so tests drive the real code over fake sysfs trees and the fake NVML.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "energy/nvml.h"

namespace joule::govern {

enum class ControlKind { kPowerLimit, kFrequencyLimit };

struct ControlInfo {
  std::string name;         // "cpufreq", "rapl:package-0", "nvml:gpu0"
  std::string description;  // where it lives and what it limits
  ControlKind kind = ControlKind::kPowerLimit;
  std::string unit;         // "W" or "MHz"
  double min = 0, max = 0;  // the range joule will set it in
  double original = 0;      // as found; restore() returns to it
  bool writable = false;
  std::string why_not;      // when not writable: what is missing
};

class Control {
 public:
  explicit Control(ControlInfo info) : info_(std::move(info)), value_(info_.original) {}
  virtual ~Control() = default;
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  const ControlInfo& info() const { return info_; }
  double value() const { return value_; }  // as last set (or found)
  // kInvalidArgument outside [min, max]; kPermission where joule may not change it.
  Status set(double value);
  // Back to the original value, if joule changed it.
  Status restore();

 protected:
  virtual Status write(double value) = 0;

 private:
  ControlInfo info_;
  double value_;
  bool changed_ = false;
};

// cpufreq's scaling_governor of every policy: not a level the governor turns but a mode set once
// (joule serve --cpufreq-governor), e.g. `performance`, so that scaling_max_freq is the frequency
// the CPU runs at rather than a ceiling the kernel's governor chooses under; restored on exit.
class CpufreqGovernor {
 public:
  CpufreqGovernor(std::string original, std::vector<std::string> available, std::vector<std::string> files,
                  std::string why_not);
  const std::string& original() const { return original_; }
  const std::string& current() const { return current_; }
  const std::vector<std::string>& available() const { return available_; }
  bool writable() const { return why_not_.empty(); }
  const std::string& why_not() const { return why_not_; }
  // kInvalidArgument for a governor this kernel does not offer; kPermission where not writable.
  Status set(const std::string& name);
  Status restore();

 private:
  std::string original_, current_;
  std::vector<std::string> available_;
  std::vector<std::string> files_;
  std::string why_not_;
};

// The controls of this machine, and for each kind that is absent a line saying why.
struct Controls {
  std::vector<std::unique_ptr<Control>> found;
  std::unique_ptr<CpufreqGovernor> cpufreq_governor;  // with cpufreq
  std::vector<std::string> missing;
  Status restore_all();  // every control; the first error is returned, the others still tried
};

// cpufreq (scaling_max_freq of every policy, as one control, and its scaling_governor), RAPL
// package power limits (constraint_0_power_limit_uw), and the NVML power limits and locked clocks
// of `nvml`'s GPUs when it is given.
Controls discover_controls(energy::NvmlSensor* nvml);

// "power limit" or "max frequency".
const char* kind_name(ControlKind k);

}  // namespace joule::govern
