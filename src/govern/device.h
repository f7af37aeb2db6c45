// The compute devices of this machine, each joining what joule has for it: the backend that
// computes on it, the energy domains that measure it, the controls joule may turn and the
// temperature sensors that watch it. The CPU always; each GPU NVML lists (its backend is the
// CUDA one, which is not there yet: the device is still measured and controlled, as it is when
// another engine runs on it). `joule info` lists them; `joule serve`'s governor turns their
// controls.
#pragma once

#include <string>
#include <vector>

#include "energy/sensor.h"
#include "govern/controls.h"
#include "govern/thermal.h"

namespace joule::govern {

struct Device {
  std::string name;         // "cpu", "gpu0"
  std::string description;  // the CPU's model name; the GPU's NVML name
  std::string backend;      // "cpu (avx2 kernels)"; "none in joule yet (CUDA backend pending)"
  std::vector<energy::DomainInfo> energy;  // the meter's domains that measure it
  std::vector<Control*> controls;          // owned by Devices::controls
  bool has_cpufreq_governor = false;       // Devices::controls.cpufreq_governor belongs to it
  std::vector<std::string> temperatures;   // ThermalSensors names; "nvml" for a GPU's own sensor
};

struct Devices {
  Controls controls;  // every control, owned here
  ThermalSensors thermal;
  std::vector<Device> devices;  // the CPU first
  std::vector<std::string> missing;  // controls and temperature sensors that are absent, with why

  // Every control joule may try to turn (the governor's actuators), in device order.
  std::vector<Control*> actuators() const;
};

// Groups by name: a domain or control named after a GPU ("gpu0", "nvml:gpu0...") is that GPU's,
// the rest (RAPL packages and DRAM, the CPU estimate, cpufreq, hwmon, thermal zones) the CPU's.
Devices discover_devices(const std::vector<energy::DomainInfo>& domains, energy::NvmlSensor* nvml,
                         std::string cpu_description, std::string cpu_backend);

}  // namespace joule::govern
