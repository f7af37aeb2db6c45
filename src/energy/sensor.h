// Energy sensors behind one interface: every sensor reports one or more domains (a GPU, a CPU
// package, its DRAM, or a modelled CPU), each read as a cumulative energy and/or a power.
//
// Where a figure comes from is part of it: `counter` (a hardware energy counter, differenced),
// `sampled` (power readings integrated over time) or `estimated` (a model with its inputs shown).
// Domains with different sources are never added together.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace joule::energy {

enum class Source { kCounter, kSampled, kEstimated };
const char* source_name(Source s);

// What one domain is and what it can report.
struct DomainInfo {
  std::string name;           // "gpu0", "package-0", "package-0/dram", "cpu"
  std::string description;    // device name, zone path, or the estimate's inputs
  Source source = Source::kSampled;
  bool has_energy = false;    // a cumulative energy reading (counter or model)
  bool has_power = false;     // a power reading
  std::string power_note;     // e.g. "1 s average (Ampere and newer)"
};

// One reading of one domain; absent fields are what the domain cannot report (or failed to).
struct Reading {
  std::optional<double> energy_j;  // cumulative since the sensor was opened, wraparounds undone
  std::optional<double> power_w;
  std::optional<double> temp_c;
  std::optional<double> sm_clock_mhz;
  std::optional<double> mem_clock_mhz;
  std::optional<double> util_pct;
  std::optional<uint64_t> clock_event_reasons;  // NVML throttle bits, see nvml.h
};

class Sensor {
 public:
  virtual ~Sensor() = default;
  virtual const std::vector<DomainInfo>& domains() const = 0;
  // One reading per domain, in domains() order (out.size() == domains().size()). A domain that
  // fails transiently leaves its fields empty; an error means the whole sensor is unusable.
  virtual Status read(std::span<Reading> out) = 0;
};

// Parameters of the CPU estimate (estimate.h), settable by flags.
struct EstimateParams {
  double w_per_core = 0;       // active power of one busy core; 0 = from the TDP table / default
  double idle_fraction = -1;   // share of that power a core draws idle; < 0 = default
  // Whose CPU time drives the estimate: 0 = this process; > 0 = that process and its
  // descendants (an engine joule talks to but does not run, such as a llama-server it started).
  int pid = 0;
  // Non-empty: no estimate at all, for this reason (the engine's process is not known, so
  // joule's own CPU time would be a figure for the wrong program).
  std::string unattributable = {};
};

// What sensors this machine has, and why each missing kind is missing.
struct Detection {
  std::vector<std::unique_ptr<Sensor>> sensors;
  std::vector<std::string> missing;  // "NVML: ...", "RAPL: ..."
};

// NVML (GPUs) and RAPL (CPU packages, DRAM); the CPU estimate only when no RAPL domain measures
// the CPU, so a CPU figure is measured wherever it can be.
Detection detect_sensors(const EstimateParams& est);

}  // namespace joule::energy
