// A CPU energy estimate for machines without a sensor (VMs, no RAPL access), in the spirit of
// CodeCarbon's TDP fallback but driven by this process's own CPU time:
//
//   P(t) = n_cores * w_per_core * (idle_fraction + (1 - idle_fraction) * u(t))
//   E    = idle_fraction * n_cores * w_per_core * wall_s + (1 - idle_fraction) * w_per_core * cpu_s
//
// u(t) is the process's CPU time per wall second over its n_cores usable cores (joule's own
// process, or an engine's process tree when joule measures a server it does not run). w_per_core is the
// package TDP over its cores when the CPU model is in a small table, else a default per-core
// figure; both it and idle_fraction are settable (--cpu-w-per-core, --cpu-idle-fraction). Always
// labelled `estimated`, with these inputs in its description: it is a model, not a measurement.
#pragma once

#include <memory>
#include <string>

#include "energy/sensor.h"

namespace joule::energy {

struct EstimateModel {
  double w_per_core = 0;
  double idle_fraction = 0;
  int n_cores = 0;
  int pid = 0;        // EstimateParams::pid
  std::string basis;  // where w_per_core came from
  std::string describe() const;
};

inline constexpr double kDefaultWPerCore = 10.0;     // server cores under AVX load: ~5-15 W
inline constexpr double kDefaultIdleFraction = 0.3;  // idle package share of active power

// The model for this machine: the CPU model name looked up in the TDP table, flags applied.
Expected<EstimateModel> make_estimate_model(const EstimateParams& p, const std::string& cpu_model,
                                            int n_cores);

// Process CPU time (all threads), seconds.
double process_cpu_seconds();
// The CPU seconds the estimate follows: this process's (pid 0), else the process tree's.
Expected<double> estimate_cpu_seconds(int pid);

class CpuEstimateSensor final : public Sensor {
 public:
  explicit CpuEstimateSensor(EstimateModel m);
  const std::vector<DomainInfo>& domains() const override { return domains_; }
  Status read(std::span<Reading> out) override;

 private:
  EstimateModel model_;
  std::vector<DomainInfo> domains_;
  Status first_read_;  // a process tree that had already gone at the start
  double wall0_s_, cpu0_s_;
  double last_wall_s_, last_cpu_s_;
};

}  // namespace joule::energy
