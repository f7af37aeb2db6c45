// NVIDIA GPUs through NVML, loaded at run time with dlopen: no link-time dependency, so joule
// runs where no driver exists. JOULE_NVML_LIBRARY overrides the library path (tests point it at
// a fake). Energy comes from the total-energy counter (mJ, Volta and newer); power from
// nvmlDeviceGetPowerUsage, which on Ampere and newer is a ~1 s average, not an instantaneous
// value, so joule integrates it only for GPUs without the counter.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "energy/sensor.h"

namespace joule::energy {

// NVML clock-event ("throttle") reason bits.
inline constexpr uint64_t kNvmlClockEventGpuIdle = 0x1;
inline constexpr uint64_t kNvmlClockEventSwPowerCap = 0x4;
inline constexpr uint64_t kNvmlClockEventHwSlowdown = 0x8;
inline constexpr uint64_t kNvmlClockEventSwThermal = 0x20;
inline constexpr uint64_t kNvmlClockEventHwThermal = 0x40;
inline constexpr uint64_t kNvmlClockEventHwPowerBrake = 0x80;
// "sw_power_cap,hw_thermal" for the set bits (empty for none).
std::string clock_event_names(uint64_t reasons);

struct PowerLimits {
  double current_w = 0;
  double default_w = 0;
  double min_w = 0;
  double max_w = 0;
};

// The graphics clocks a GPU supports (at its highest memory clock), the range clocks lock in.
struct ClockRange {
  double min_mhz = 0;
  double max_mhz = 0;
};

class NvmlSensor final : public Sensor {
 public:
  // Loads the library, initialises NVML and enumerates the GPUs. The error explains what is
  // missing (no library = no driver, no GPUs, init failure).
  static Expected<std::unique_ptr<NvmlSensor>> open();
  ~NvmlSensor() override;  // restores changed power limits / clocks, then shuts NVML down

  const std::vector<DomainInfo>& domains() const override { return domains_; }
  Status read(std::span<Reading> out) override;

  Expected<PowerLimits> power_limits(int gpu) const;
  // Only as root, within the allowed range; the previous limit is restored by restore() and by
  // the destructor (the CLI also calls restore() on SIGINT/SIGTERM).
  Status set_power_limit(int gpu, double watts);
  Expected<ClockRange> clock_range(int gpu) const;
  Status lock_clocks(int gpu, int min_mhz, int max_mhz);
  Status unlock_clocks(int gpu);  // back to the driver's own clock choice
  Status restore();

  struct Api;  // the dlsym'd entry points (nvml.cc)

 private:
  NvmlSensor() = default;
  void* lib_ = nullptr;
  std::unique_ptr<Api> api_;
  std::vector<void*> devices_;
  std::vector<DomainInfo> domains_;
  std::vector<double> energy_base_mj_;         // counter at open, so energy starts at 0
  std::vector<std::optional<unsigned>> saved_limit_mw_;  // set while a limit is changed
  std::vector<bool> clocks_locked_;
};

}  // namespace joule::energy
