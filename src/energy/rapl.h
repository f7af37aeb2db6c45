// CPU packages and DRAM through the Linux powercap interface (Intel RAPL; AMD exposes the same
// tree): /sys/class/powercap/intel-rapl:<pkg> and subzones intel-rapl:<pkg>:<n>, each with
// `name`, `energy_uj` (a wrapping microjoule counter) and `max_energy_range_uj` (where it wraps).
// JOULE_POWERCAP_ROOT overrides the root directory (tests use a fake tree).
//
// Since Linux 5.10 energy_uj is readable only by root (CVE-2020-8694, the PLATYPUS power side
// channel); opening explains that and the fixes instead of failing silently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "energy/sensor.h"

namespace joule::energy {

// The energy between two raw counter values, undoing at most one wrap at max_range_uj.
uint64_t counter_delta_uj(uint64_t prev, uint64_t now, uint64_t max_range_uj);

class RaplSensor final : public Sensor {
 public:
  // NotFound if there is no RAPL zone, Permission (with the fix) if energy_uj is unreadable.
  static Expected<std::unique_ptr<RaplSensor>> open();

  const std::vector<DomainInfo>& domains() const override { return domains_; }
  Status read(std::span<Reading> out) override;

 private:
  struct Zone {
    std::string energy_path;
    uint64_t max_range_uj = 0;
    uint64_t last_uj = 0;
    double total_j = 0;  // accumulated since open
  };
  std::vector<Zone> zones_;
  std::vector<DomainInfo> domains_;
};

}  // namespace joule::energy
