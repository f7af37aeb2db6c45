#include "govern/controls.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/strings.h"
#include "core/sysfs.h"

namespace joule::govern {
namespace {

// Why joule may not write these files: the first that is not writable, said so; "" when all are.
std::string why_not_writable(const std::vector<std::string>& files) {
  for (const std::string& f : files)
    if (::access(f.c_str(), W_OK) != 0)
      return f + " is not writable" + (geteuid() == 0 ? " (read-only sysfs: a container or VM)" : " (run as root)");
  return "";
}

// One value into each file (every cpufreq policy takes the same setting).
Status write_all(const std::vector<std::string>& files, const std::string& value) {
  for (const std::string& f : files) JOULE_RETURN_IF_ERROR(write_sysfs(f, value));
  return Status::Ok();
}

// The attribute `name` of every cpufreq policy directory.
std::vector<std::string> policy_files(const std::vector<std::string>& policies, const std::string& name) {
  std::vector<std::string> out;
  for (const std::string& p : policies) out.push_back(p + "/" + name);
  return out;
}

// scaling_max_freq of every cpufreq policy, written together (kHz in sysfs, MHz here).
class CpufreqControl final : public Control {
 public:
  CpufreqControl(ControlInfo info, std::vector<std::string> files) : Control(std::move(info)), files_(std::move(files)) {}

 protected:
  Status write(double mhz) override {
    return write_all(files_, std::to_string(int64_t(std::llround(mhz * 1000))));
  }

 private:
  std::vector<std::string> files_;
};

class RaplLimitControl final : public Control {
 public:
  RaplLimitControl(ControlInfo info, std::string file) : Control(std::move(info)), file_(std::move(file)) {}

 protected:
  Status write(double watts) override { return write_sysfs(file_, std::to_string(int64_t(std::llround(watts * 1e6)))); }

 private:
  std::string file_;
};

class NvmlLimitControl final : public Control {
 public:
  NvmlLimitControl(ControlInfo info, energy::NvmlSensor& nvml, int gpu) : Control(std::move(info)), nvml_(nvml), gpu_(gpu) {}

 protected:
  Status write(double watts) override { return nvml_.set_power_limit(gpu_, watts); }

 private:
  energy::NvmlSensor& nvml_;
  int gpu_;
};

// Locked graphics clocks as a frequency limit: [min supported, value]; at the top the lock is
// released (the driver's own choice, which is what joule found).
class NvmlClockControl final : public Control {
 public:
  NvmlClockControl(ControlInfo info, energy::NvmlSensor& nvml, int gpu) : Control(std::move(info)), nvml_(nvml), gpu_(gpu) {}

 protected:
  Status write(double mhz) override {
    if (mhz >= info().max) return nvml_.unlock_clocks(gpu_);
    return nvml_.lock_clocks(gpu_, int(info().min), int(std::lround(mhz)));
  }

 private:
  energy::NvmlSensor& nvml_;
  int gpu_;
};

void find_cpufreq(Controls& out) {
  const std::string root = sysfs_root("JOULE_CPUFREQ_ROOT", "/sys/devices/system/cpu/cpufreq");
  const std::vector<std::string> policies = sysfs_entries(root, R"(policy\d+)");
  if (policies.empty()) {
    out.missing.push_back("cpufreq: no policy directories under " + root + " (no cpufreq driver; typical in VMs)");
    return;
  }
  const std::string& p0 = policies.front();
  auto lo = read_sysfs_u64(p0 + "/cpuinfo_min_freq");
  auto hi = read_sysfs_u64(p0 + "/cpuinfo_max_freq");
  auto cur = read_sysfs_u64(p0 + "/scaling_max_freq");
  if (!lo.ok() || !hi.ok() || !cur.ok()) {
    out.missing.push_back("cpufreq: " + (!lo.ok() ? lo.status() : !hi.ok() ? hi.status() : cur.status()).message());
    return;
  }
  const auto governor = read_sysfs_line(p0 + "/scaling_governor");
  ControlInfo info{.name = "cpufreq",
                   .description = "scaling_max_freq of " + std::to_string(policies.size()) + " cpufreq policies (" +
                                  root + ", governor " + (governor.ok() ? *governor : "unknown") + ")",
                   .kind = ControlKind::kFrequencyLimit,
                   .unit = "MHz",
                   .min = double(*lo) / 1000,
                   .max = double(*hi) / 1000,
                   .original = double(*cur) / 1000,
                   .writable = false,
                   .why_not = ""};
  std::vector<std::string> files = policy_files(policies, "scaling_max_freq");
  info.why_not = why_not_writable(files);
  info.writable = info.why_not.empty();
  out.found.push_back(std::make_unique<CpufreqControl>(std::move(info), std::move(files)));

  if (!governor.ok()) {
    out.missing.push_back("cpufreq governor: " + governor.status().message());
    return;
  }
  auto available = read_sysfs_line(p0 + "/scaling_available_governors");
  std::vector<std::string> gov_files = policy_files(policies, "scaling_governor");
  std::string why_not = why_not_writable(gov_files);
  out.cpufreq_governor = std::make_unique<CpufreqGovernor>(
      *governor, available.ok() ? split_words(*available) : std::vector<std::string>{*governor}, std::move(gov_files),
      std::move(why_not));
}

void find_rapl(Controls& out) {
  const std::string root = sysfs_root("JOULE_POWERCAP_ROOT", "/sys/class/powercap");
  const std::vector<std::string> zones = sysfs_entries(root, R"(intel-rapl:\d+)");  // packages
  if (zones.empty()) {
    out.missing.push_back("RAPL power limits: no intel-rapl zones under " + root + " (no powercap driver; typical in VMs)");
    return;
  }
  for (const std::string& z : zones) {
    const std::string file = z + "/constraint_0_power_limit_uw";
    auto cur = read_sysfs_u64(file);
    if (!cur.ok()) {
      out.missing.push_back("RAPL power limit of " + z + ": " + cur.status().message());
      continue;
    }
    auto hi = read_sysfs_u64(z + "/constraint_0_max_power_uw");
    const double max_w = hi.ok() && *hi > 0 ? double(*hi) * 1e-6 : double(*cur) * 1e-6;
    auto name = read_sysfs_line(z + "/name");
    ControlInfo info{.name = "rapl:" + (name.ok() ? *name : std::filesystem::path(z).filename().string()),
                     .description = "constraint_0 (long-term) power limit of " + z,
                     .kind = ControlKind::kPowerLimit,
                     .unit = "W",
                     // joule never sets less than a quarter of the zone's maximum: below that the
                     // machine itself starves, and serving stops long before the cap matters.
                     .min = max_w / 4,
                     .max = max_w,
                     .original = double(*cur) * 1e-6,
                     .writable = false,
                     .why_not = why_not_writable({file})};
    info.writable = info.why_not.empty();
    out.found.push_back(std::make_unique<RaplLimitControl>(std::move(info), file));
  }
}

void find_nvml(Controls& out, energy::NvmlSensor& nvml) {
  const bool root = geteuid() == 0;
  for (int gpu = 0; gpu < int(nvml.domains().size()); ++gpu) {
    const std::string name = "nvml:gpu" + std::to_string(gpu);
    const std::string& gpu_name = nvml.domains()[size_t(gpu)].description;
    if (auto lim = nvml.power_limits(gpu); lim.ok())
      out.found.push_back(std::make_unique<NvmlLimitControl>(
          ControlInfo{.name = name,
                      .description = "power management limit of " + gpu_name,
                      .kind = ControlKind::kPowerLimit,
                      .unit = "W",
                      .min = lim->min_w,
                      .max = lim->max_w,
                      .original = lim->current_w,
                      .writable = root,
                      .why_not = root ? "" : "setting a GPU power limit needs root"},
          nvml, gpu));
    else
      out.missing.push_back("NVML power limit of gpu" + std::to_string(gpu) + ": " + lim.status().message());
    if (auto clocks = nvml.clock_range(gpu); clocks.ok())
      out.found.push_back(std::make_unique<NvmlClockControl>(
          ControlInfo{.name = name + ":clocks",
                      .description = "locked graphics clocks of " + gpu_name + " (at the top: unlocked, the driver's choice)",
                      .kind = ControlKind::kFrequencyLimit,
                      .unit = "MHz",
                      .min = clocks->min_mhz,
                      .max = clocks->max_mhz,
                      .original = clocks->max_mhz,
                      .writable = root,
                      .why_not = root ? "" : "locking GPU clocks needs root"},
          nvml, gpu));
    else
      out.missing.push_back("NVML locked clocks of gpu" + std::to_string(gpu) + ": " + clocks.status().message());
  }
}

}  // namespace

Status Control::set(double value) {
  if (!(value >= info_.min && value <= info_.max))
    return InvalidArgument(info_.name + ": " + format_number("%g", value) + " " + info_.unit + " is outside [" +
                           format_number("%g", info_.min) + ", " + format_number("%g", info_.max) + "]");
  if (!info_.writable) return Status(ErrorCode::kPermission, info_.name + ": " + info_.why_not);
  JOULE_RETURN_IF_ERROR(write(value));
  value_ = value;
  changed_ = value != info_.original;
  return Status::Ok();
}

Status Control::restore() {
  if (!changed_) return Status::Ok();
  JOULE_RETURN_IF_ERROR(write(info_.original));
  value_ = info_.original;
  changed_ = false;
  return Status::Ok();
}

CpufreqGovernor::CpufreqGovernor(std::string original, std::vector<std::string> available,
                                 std::vector<std::string> files, std::string why_not)
    : original_(std::move(original)), current_(original_), available_(std::move(available)),
      files_(std::move(files)), why_not_(std::move(why_not)) {}

Status CpufreqGovernor::set(const std::string& name) {
  if (std::find(available_.begin(), available_.end(), name) == available_.end())
    return InvalidArgument("cpufreq governor '" + name + "' is not available here (" + join(available_, ", ") + ")");
  if (!why_not_.empty()) return Status(ErrorCode::kPermission, "cpufreq governor: " + why_not_);
  JOULE_RETURN_IF_ERROR(write_all(files_, name));
  current_ = name;
  return Status::Ok();
}

Status CpufreqGovernor::restore() {
  if (current_ == original_) return Status::Ok();
  JOULE_RETURN_IF_ERROR(write_all(files_, original_));
  current_ = original_;
  return Status::Ok();
}

Status Controls::restore_all() {
  Status first = cpufreq_governor ? cpufreq_governor->restore() : Status::Ok();
  for (const auto& c : found)
    if (Status s = c->restore(); !s.ok() && first.ok()) first = s;
  return first;
}

Controls discover_controls(energy::NvmlSensor* nvml) {
  Controls out;
  find_cpufreq(out);
  find_rapl(out);
  if (nvml) find_nvml(out, *nvml);
  else out.missing.push_back("NVML power limits and clocks: no NVIDIA GPU (NVML not loaded)");
  return out;
}

const char* kind_name(ControlKind k) { return k == ControlKind::kPowerLimit ? "power limit" : "max frequency"; }

}  // namespace joule::govern
