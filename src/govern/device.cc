#include "govern/device.h"

#include "energy/nvml.h"

namespace joule::govern {
namespace {

// "gpu3" for a domain "gpu3" or a control "nvml:gpu3" / "nvml:gpu3:clocks"; "" otherwise.
std::string gpu_of(std::string_view name) {
  if (name.rfind("nvml:", 0) == 0) name.remove_prefix(5);
  if (name.rfind("gpu", 0) != 0) return "";
  const size_t end = name.find(':');
  return std::string(name.substr(0, end));
}

}  // namespace

std::vector<Control*> Devices::actuators() const {
  std::vector<Control*> out;
  for (const Device& d : devices) out.insert(out.end(), d.controls.begin(), d.controls.end());
  return out;
}

Devices discover_devices(const std::vector<energy::DomainInfo>& domains, energy::NvmlSensor* nvml,
                         std::string cpu_description, std::string cpu_backend) {
  Devices out;
  out.controls = discover_controls(nvml);
  out.thermal = ThermalSensors::discover();
  out.missing = out.controls.missing;
  out.missing.insert(out.missing.end(), out.thermal.missing().begin(), out.thermal.missing().end());

  Device cpu;
  cpu.name = "cpu";
  cpu.description = std::move(cpu_description);
  cpu.backend = std::move(cpu_backend);
  cpu.has_cpufreq_governor = out.controls.cpufreq_governor != nullptr;
  cpu.temperatures = out.thermal.names();
  out.devices.push_back(std::move(cpu));
  if (nvml)
    for (const energy::DomainInfo& g : nvml->domains()) {
      Device& gpu = out.devices.emplace_back();
      gpu.name = g.name;
      gpu.description = g.description;
      gpu.backend = "none in joule yet (CUDA backend pending; measured and controlled around any engine)";
      gpu.temperatures = {"nvml"};
    }
  auto device_named = [&](const std::string& gpu) -> Device& {
    for (Device& d : out.devices)
      if (d.name == gpu) return d;
    return out.devices.front();  // the CPU: whatever is not named after a GPU
  };
  for (const energy::DomainInfo& d : domains) device_named(gpu_of(d.name)).energy.push_back(d);
  for (const auto& c : out.controls.found) device_named(gpu_of(c->info().name)).controls.push_back(c.get());
  return out;
}

}  // namespace joule::govern
