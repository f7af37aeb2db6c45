// Energy measurement in the subcommands: flags, starting the meter, and printing windows.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/status.h"
#include "energy/meter.h"
#include "energy/nvml.h"
#include "govern/device.h"

namespace joule::cli {

struct EnergyOptions {
  bool off = false;              // --no-energy
  double sample_hz = 10;         // --sample-hz
  double idle_baseline_s = 0;    // --idle-baseline
  std::string trace;             // --trace
  energy::EstimateParams estimate;
  double gpu_power_limit_w = 0;  // --gpu-power-limit (root; restored on exit)
  std::string gpu_clocks;        // --gpu-clocks MIN:MAX MHz (root; reset on exit)
};

// --no-energy, --sample-hz, --idle-baseline, --trace, --cpu-w-per-core, --cpu-idle-fraction,
// --gpu-power-limit, --gpu-clocks.
void add_energy_options(CLI::App* cmd, EnergyOptions* o);
// Only the estimate's flags (for commands without windows, like `joule power` and `joule info`).
void add_estimate_options(CLI::App* cmd, energy::EstimateParams* p);

class SignalRestore;

// A running meter over every detected sensor (or nothing with --no-energy).
class EnergySession {
 public:
  static Expected<std::unique_ptr<EnergySession>> start(const EnergyOptions& o);
  ~EnergySession();  // restores changed GPU power limits and clocks

  bool on() const { return meter_ != nullptr; }
  energy::Meter* meter() { return meter_.get(); }
  energy::NvmlSensor* nvml() { return nvml_; }  // null without an NVIDIA GPU
  // Windows; no-ops when off. A failing window is reported and then left out, never invented.
  void begin(const std::string& name);
  std::optional<energy::WindowResult> end(const std::string& name);
  // The last result of a window ended under this name, if any.
  const energy::WindowResult* result(const std::string& name) const;
  // Writes --trace if given.
  Status finish();
  // The domains and where each figure comes from, for JSON output.
  nlohmann::json sources_json() const;
  // "[joule] energy sources: cpu = estimate: ... | NVML (GPU): not found ..." for stderr.
  std::string sources_text() const;

 private:
  EnergyOptions opt_;
  std::unique_ptr<energy::Meter> meter_;
  energy::NvmlSensor* nvml_ = nullptr;  // owned by the meter
  std::vector<std::string> missing_;
  std::map<std::string, energy::WindowResult> results_;
  std::unique_ptr<SignalRestore> signal_restore_;  // while GPU settings are changed
};

// Every detected domain with its capabilities (and GPU power-limit ranges), and why each
// missing sensor kind is missing.
nlohmann::json sensors_json(const energy::Detection& d);

// One window as JSON per domain: energy_j, j_per_token, tokens_per_j, avg/peak W, source, ...
nlohmann::json window_json(const energy::WindowResult& w, int tokens);
// "cpu 1.23 J estimated, 0.0096 J/tok, 104 tok/J, 12.4 W" for each domain, joined by "; ".
std::string window_text(const energy::WindowResult& w, int tokens);

// This machine's devices (govern/device.h): the CPU with joule's kernels, and NVML's GPUs.
govern::Devices local_devices(const std::vector<energy::DomainInfo>& domains, energy::NvmlSensor* nvml);

}  // namespace joule::cli
