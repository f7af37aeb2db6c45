// Which sensors this machine has (sensor.h).
#include <sched.h>

#include <algorithm>
#include <fstream>

#include "energy/estimate.h"
#include "energy/nvml.h"
#include "energy/rapl.h"

namespace joule::energy {
namespace {

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

}  // namespace

Detection detect_sensors(const EstimateParams& est) {
  Detection d;
  if (auto nvml = NvmlSensor::open(); nvml.ok())
    d.sensors.push_back(std::move(nvml).value());
  else
    d.missing.push_back("NVML (GPU): " + nvml.status().message());

  bool cpu_measured = false;
  if (auto rapl = RaplSensor::open(); rapl.ok()) {
    d.sensors.push_back(std::move(rapl).value());
    cpu_measured = true;
  } else {
    d.missing.push_back("RAPL (CPU): " + rapl.status().message());
  }
  if (!cpu_measured && !est.unattributable.empty()) {
    d.missing.push_back("CPU estimate: " + est.unattributable);
  } else if (!cpu_measured) {
    if (auto m = make_estimate_model(est, cpu_model_name(), usable_cores()); m.ok())
      d.sensors.push_back(std::make_unique<CpuEstimateSensor>(*m));
    else
      d.missing.push_back("CPU estimate: " + m.status().message());
  }
  return d;
}

}  // namespace joule::energy
