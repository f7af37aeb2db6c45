#include "energy/rapl.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <regex>

#include "core/sysfs.h"

namespace joule::energy {
namespace {

namespace fs = std::filesystem;

// Zone names become domain names in tables, JSON and traces: keep them to a safe alphabet.
std::string sanitize(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return s.empty() ? "zone" : s;
}

std::string permission_help(const std::string& path) {
  return path +
         " is readable only by root (Linux >= 5.10 restricts RAPL counters, CVE-2020-8694). "
         "Run joule as root, or allow reading until the next boot with "
         "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj "
         "/sys/class/powercap/intel-rapl:*:*/energy_uj` (or a udev rule to keep it)";
}

}  // namespace

uint64_t counter_delta_uj(uint64_t prev, uint64_t now, uint64_t max_range_uj) {
  if (now >= prev) return now - prev;
  // Wrapped: the counter ran up to max_range_uj and restarted from 0.
  return max_range_uj >= prev ? (max_range_uj - prev) + now : now;
}

Expected<std::unique_ptr<RaplSensor>> RaplSensor::open() {
  const fs::path root = sysfs_root("JOULE_POWERCAP_ROOT", "/sys/class/powercap");
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return NotFound(root.string() + " does not exist (no powercap/RAPL driver; typical in VMs)");
  // Top-level zones "intel-rapl:N" and subzones "intel-rapl:N:M"; intel-rapl-mmio duplicates
  // the package counter through another interface and is skipped.
  static const std::regex kZone(R"(intel-rapl:(\d+)(?::(\d+))?)");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if (std::regex_match(n, kZone)) names.push_back(n);
  }
  if (ec) return IoError(root.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  if (names.empty()) return NotFound("no intel-rapl zones under " + root.string());

  auto s = std::unique_ptr<RaplSensor>(new RaplSensor());
  for (const std::string& n : names) {
    const std::string dir = (root / n).string();
    JOULE_ASSIGN_OR_RETURN(std::string zone_name, read_sysfs_line(dir + "/name"));
    zone_name = sanitize(zone_name);
    std::string domain = zone_name;
    std::smatch m;
    std::regex_match(n, m, kZone);
    if (m[2].matched) {  // a subzone: name it after its package, e.g. "package-0/dram"
      auto parent = read_sysfs_line((root / ("intel-rapl:" + m[1].str())).string() + "/name");
      domain = (parent.ok() ? sanitize(*parent) : "package-" + m[1].str()) + "/" + zone_name;
    }
    Zone z;
    z.energy_path = dir + "/energy_uj";
    auto first = read_sysfs_u64(z.energy_path);
    if (!first.ok()) {
      if (first.status().code() == ErrorCode::kPermission)
        return Status(ErrorCode::kPermission, permission_help(z.energy_path));
      return first.status();
    }
    z.last_uj = *first;
    JOULE_ASSIGN_OR_RETURN(z.max_range_uj, read_sysfs_u64(dir + "/max_energy_range_uj"));
    s->zones_.push_back(std::move(z));
    s->domains_.push_back(DomainInfo{.name = domain,
                                     .description = "RAPL " + n + " (" + dir + ")",
                                     .source = Source::kCounter,
                                     .has_energy = true,
                                     .has_power = false,
                                     .power_note = ""});
  }
  return s;
}

Status RaplSensor::read(std::span<Reading> out) {
  for (size_t i = 0; i < zones_.size(); ++i) {
    Zone& z = zones_[i];
    out[i] = Reading{};
    auto now = read_sysfs_u64(z.energy_path);
    if (!now.ok()) continue;  // transient: this reading has no energy
    z.total_j += counter_delta_uj(z.last_uj, *now, z.max_range_uj) * 1e-6;
    z.last_uj = *now;
    out[i].energy_j = z.total_j;
  }
  return Status::Ok();
}

}  // namespace joule::energy
