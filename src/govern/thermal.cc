#include "govern/thermal.h"

#include <filesystem>

#include "core/sysfs.h"

namespace joule::govern {

ThermalSensors ThermalSensors::discover() {
  ThermalSensors t;
  const std::string hwmon = sysfs_root("JOULE_HWMON_ROOT", "/sys/class/hwmon");
  for (const std::string& dev : sysfs_entries(hwmon, R"(hwmon\d+)")) {
    const auto name = read_sysfs_line(dev + "/name");
    for (const std::string& input : sysfs_entries(dev, R"(temp\d+_input)")) {
      const std::string temp = std::filesystem::path(input).filename().string();
      t.files_.emplace_back((name.ok() ? *name : std::filesystem::path(dev).filename().string()) + "/" +
                                temp.substr(0, temp.find('_')),
                            input);
    }
  }
  if (t.files_.empty()) t.missing_.push_back("hwmon: no temp*_input under " + hwmon);
  const size_t before = t.files_.size();
  const std::string thermal = sysfs_root("JOULE_THERMAL_ROOT", "/sys/class/thermal");
  for (const std::string& zone : sysfs_entries(thermal, R"(thermal_zone\d+)")) {
    const auto type = read_sysfs_line(zone + "/type");
    t.files_.emplace_back(type.ok() ? *type : std::filesystem::path(zone).filename().string(), zone + "/temp");
  }
  if (t.files_.size() == before) t.missing_.push_back("thermal zones: none under " + thermal);
  return t;
}

std::vector<std::string> ThermalSensors::names() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f.first);
  return out;
}

std::vector<Temperature> ThermalSensors::read() const {
  std::vector<Temperature> out;
  for (const auto& [name, file] : files_)
    if (auto milli = read_sysfs_u64(file); milli.ok()) out.push_back({name, double(*milli) / 1000});
  return out;
}

}  // namespace joule::govern
