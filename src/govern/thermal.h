// CPU temperatures from hwmon (every temp*_input of every /sys/class/hwmon/hwmonN, named after its
// `name` file: "k10temp/temp1") and thermal zones (/sys/class/thermal/thermal_zoneN/temp, named
// after its `type`). JOULE_HWMON_ROOT and JOULE_THERMAL_ROOT point tests at fake trees. GPU
// temperatures come with NVML's readings (energy::Reading::temp_c).
#pragma once

#include <string>
#include <vector>

namespace joule::govern {

struct Temperature {
  std::string sensor;
  double celsius = 0;
};

class ThermalSensors {
 public:
  static ThermalSensors discover();
  // The current values; a sensor that cannot be read now is left out.
  std::vector<Temperature> read() const;
  bool empty() const { return files_.empty(); }
  std::vector<std::string> names() const;  // every sensor found, readable now or not
  // Why no sensor was found, per kind ("hwmon: no ... under ...").
  const std::vector<std::string>& missing() const { return missing_; }

 private:
  std::vector<std::pair<std::string, std::string>> files_;  // (sensor name, millidegree file)
  std::vector<std::string> missing_;
};

}  // namespace joule::govern
