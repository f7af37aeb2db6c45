#include "energy/nvml.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace joule::energy {
namespace {

// Minimal NVML declarations (the ABI of nvml.h): opaque device handles, int return codes.
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
constexpr nvmlReturn_t kSuccess = 0;
constexpr nvmlReturn_t kNotSupported = 3;
constexpr nvmlReturn_t kNoPermission = 4;
constexpr unsigned kClockSm = 1, kClockMem = 2;  // nvmlClockType_t
constexpr unsigned kTemperatureGpu = 0;          // nvmlTemperatureSensors_t
struct nvmlUtilization_t {
  unsigned gpu, memory;
};

}  // namespace

struct NvmlSensor::Api {
  nvmlReturn_t (*init)();
  nvmlReturn_t (*shutdown)();
  const char* (*error_string)(nvmlReturn_t);
  nvmlReturn_t (*device_count)(unsigned*);
  nvmlReturn_t (*handle_by_index)(unsigned, nvmlDevice_t*);
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned);
  nvmlReturn_t (*total_energy)(nvmlDevice_t, unsigned long long*);
  nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*temperature)(nvmlDevice_t, unsigned, unsigned*);
  nvmlReturn_t (*clock_info)(nvmlDevice_t, unsigned, unsigned*);
  nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*);
  nvmlReturn_t (*clock_events)(nvmlDevice_t, unsigned long long*);
  nvmlReturn_t (*power_limit)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*power_limit_default)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*power_limit_range)(nvmlDevice_t, unsigned*, unsigned*);
  nvmlReturn_t (*set_power_limit)(nvmlDevice_t, unsigned);
  nvmlReturn_t (*lock_clocks)(nvmlDevice_t, unsigned, unsigned);
  nvmlReturn_t (*reset_clocks)(nvmlDevice_t);
  nvmlReturn_t (*memory_clocks)(nvmlDevice_t, unsigned*, unsigned*);
  nvmlReturn_t (*graphics_clocks)(nvmlDevice_t, unsigned, unsigned*, unsigned*);

  std::string error(const char* what, nvmlReturn_t r) const {
    return std::string(what) + " failed: " + (error_string ? error_string(r) : "error") + " (" +
           std::to_string(r) + ")";
  }
};

namespace {

// Resolves the first name that exists (newer versioned names first); nullptr if none does.
template <class F>
void bind(void* lib, F*& fn, std::initializer_list<const char*> names) {
  fn = nullptr;
  for (const char* n : names)
    if (void* p = dlsym(lib, n)) {
      fn = reinterpret_cast<F*>(p);
      return;
    }
}

// Calls an NVML getter of one unsigned value; the value if it succeeded.
template <class F>
std::optional<double> get_unsigned(F&& call) {
  unsigned v = 0;
  if (call(&v) != kSuccess) return std::nullopt;
  return static_cast<double>(v);
}

}  // namespace

std::string clock_event_names(uint64_t reasons) {
  static constexpr std::pair<uint64_t, const char*> kNames[] = {
      {kNvmlClockEventGpuIdle, "gpu_idle"},       {kNvmlClockEventSwPowerCap, "sw_power_cap"},
      {kNvmlClockEventHwSlowdown, "hw_slowdown"}, {kNvmlClockEventSwThermal, "sw_thermal"},
      {kNvmlClockEventHwThermal, "hw_thermal"},   {kNvmlClockEventHwPowerBrake, "hw_power_brake"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(reasons & bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

Expected<std::unique_ptr<NvmlSensor>> NvmlSensor::open() {
  const char* env = std::getenv("JOULE_NVML_LIBRARY");
  const std::string path = env && *env ? env : "libnvidia-ml.so.1";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr)
    return NotFound("cannot load " + path + " (no NVIDIA driver on this machine?): " + dlerror());
  std::unique_ptr<NvmlSensor> s(new NvmlSensor());
  s->lib_ = lib;
  s->api_ = std::make_unique<Api>();
  Api& a = *s->api_;
  bind(lib, a.init, {"nvmlInit_v2", "nvmlInit"});
  bind(lib, a.shutdown, {"nvmlShutdown"});
  bind(lib, a.error_string, {"nvmlErrorString"});
  bind(lib, a.device_count, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"});
  bind(lib, a.handle_by_index, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"});
  bind(lib, a.name, {"nvmlDeviceGetName"});
  bind(lib, a.total_energy, {"nvmlDeviceGetTotalEnergyConsumption"});
  bind(lib, a.power_usage, {"nvmlDeviceGetPowerUsage"});
  bind(lib, a.temperature, {"nvmlDeviceGetTemperature"});
  bind(lib, a.clock_info, {"nvmlDeviceGetClockInfo"});
  bind(lib, a.utilization, {"nvmlDeviceGetUtilizationRates"});
  bind(lib, a.clock_events,
       {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"});
  bind(lib, a.power_limit, {"nvmlDeviceGetPowerManagementLimit"});
  bind(lib, a.power_limit_default, {"nvmlDeviceGetPowerManagementDefaultLimit"});
  bind(lib, a.power_limit_range, {"nvmlDeviceGetPowerManagementLimitConstraints"});
  bind(lib, a.set_power_limit, {"nvmlDeviceSetPowerManagementLimit"});
  bind(lib, a.lock_clocks, {"nvmlDeviceSetGpuLockedClocks"});
  bind(lib, a.reset_clocks, {"nvmlDeviceResetGpuLockedClocks"});
  bind(lib, a.memory_clocks, {"nvmlDeviceGetSupportedMemoryClocks"});
  bind(lib, a.graphics_clocks, {"nvmlDeviceGetSupportedGraphicsClocks"});
  if (!a.init || !a.shutdown || !a.device_count || !a.handle_by_index)
    return Unsupported(path + " lacks the NVML entry points joule needs (nvmlInit_v2, ...)");
  if (nvmlReturn_t r = a.init(); r != kSuccess) {
    a.shutdown = nullptr;  // nothing to shut down
    return Unsupported(a.error("nvmlInit_v2", r));
  }
  unsigned n = 0;
  if (nvmlReturn_t r = a.device_count(&n); r != kSuccess)
    return Unsupported(a.error("nvmlDeviceGetCount_v2", r));
  if (n == 0) return NotFound("NVML found no GPUs");
  for (unsigned i = 0; i < n; ++i) {
    nvmlDevice_t d = nullptr;
    if (nvmlReturn_t r = a.handle_by_index(i, &d); r != kSuccess)
      return Unsupported(a.error("nvmlDeviceGetHandleByIndex_v2", r));
    DomainInfo info;
    info.name = "gpu" + std::to_string(i);
    char name[96] = "NVIDIA GPU";
    if (a.name) a.name(d, name, sizeof(name));
    info.description = name;
    unsigned long long mj = 0;
    info.has_energy = a.total_energy && a.total_energy(d, &mj) == kSuccess;
    unsigned mw = 0;
    info.has_power = a.power_usage && a.power_usage(d, &mw) == kSuccess;
    info.source = info.has_energy ? Source::kCounter : Source::kSampled;
    if (info.has_power)
      info.power_note = "NVML power usage: a ~1 s average on Ampere and newer, not instantaneous";
    s->devices_.push_back(d);
    s->energy_base_mj_.push_back(static_cast<double>(mj));
    s->domains_.push_back(std::move(info));
  }
  s->saved_limit_mw_.assign(n, std::nullopt);
  s->clocks_locked_.assign(n, false);
  return s;
}

NvmlSensor::~NvmlSensor() {
  if (api_) {
    (void)restore();
    if (api_->shutdown) api_->shutdown();
  }
  if (lib_) dlclose(lib_);
}

Status NvmlSensor::read(std::span<Reading> out) {
  const Api& a = *api_;
  for (size_t i = 0; i < devices_.size(); ++i) {
    nvmlDevice_t d = devices_[i];
    Reading& r = out[i];
    r = Reading{};
    if (domains_[i].has_energy) {
      unsigned long long mj = 0;
      if (a.total_energy(d, &mj) == kSuccess) r.energy_j = (double(mj) - energy_base_mj_[i]) * 1e-3;
    }
    if (domains_[i].has_power)
      if (auto mw = get_unsigned([&](unsigned* v) { return a.power_usage(d, v); })) r.power_w = *mw * 1e-3;
    if (a.temperature) r.temp_c = get_unsigned([&](unsigned* v) { return a.temperature(d, kTemperatureGpu, v); });
    if (a.clock_info) {
      r.sm_clock_mhz = get_unsigned([&](unsigned* v) { return a.clock_info(d, kClockSm, v); });
      r.mem_clock_mhz = get_unsigned([&](unsigned* v) { return a.clock_info(d, kClockMem, v); });
    }
    nvmlUtilization_t u{};
    if (a.utilization && a.utilization(d, &u) == kSuccess) r.util_pct = u.gpu;
    unsigned long long reasons = 0;
    if (a.clock_events && a.clock_events(d, &reasons) == kSuccess) r.clock_event_reasons = reasons;
  }
  return Status::Ok();
}

Expected<PowerLimits> NvmlSensor::power_limits(int gpu) const {
  const Api& a = *api_;
  if (gpu < 0 || gpu >= int(devices_.size()))
    return InvalidArgument("no GPU " + std::to_string(gpu) + " (NVML found " +
                           std::to_string(devices_.size()) + ")");
  if (!a.power_limit || !a.power_limit_range)
    return Unsupported("this NVML has no power-limit queries");
  unsigned cur = 0, def = 0, lo = 0, hi = 0;
  nvmlDevice_t d = devices_[gpu];
  if (nvmlReturn_t r = a.power_limit(d, &cur); r != kSuccess)
    return Unsupported(a.error("nvmlDeviceGetPowerManagementLimit", r));
  if (nvmlReturn_t r = a.power_limit_range(d, &lo, &hi); r != kSuccess)
    return Unsupported(a.error("nvmlDeviceGetPowerManagementLimitConstraints", r));
  if (!a.power_limit_default || a.power_limit_default(d, &def) != kSuccess) def = cur;
  return PowerLimits{cur * 1e-3, def * 1e-3, lo * 1e-3, hi * 1e-3};
}

namespace {
Status require_root(const std::string& what) {
  if (geteuid() != 0)
    return Status(ErrorCode::kPermission, what + " needs root (run joule with sudo); nothing was changed");
  return Status::Ok();
}
}  // namespace

Status NvmlSensor::set_power_limit(int gpu, double watts) {
  JOULE_RETURN_IF_ERROR(require_root("setting a GPU power limit"));
  JOULE_ASSIGN_OR_RETURN(PowerLimits lim, power_limits(gpu));
  if (watts < lim.min_w || watts > lim.max_w)
    return InvalidArgument("power limit " + std::to_string(watts) + " W is outside gpu" +
                           std::to_string(gpu) + "'s range [" + std::to_string(lim.min_w) + ", " +
                           std::to_string(lim.max_w) + "] W");
  if (!api_->set_power_limit) return Unsupported("this NVML cannot set power limits");
  if (!saved_limit_mw_[gpu]) saved_limit_mw_[gpu] = static_cast<unsigned>(lim.current_w * 1e3 + 0.5);
  const nvmlReturn_t r = api_->set_power_limit(devices_[gpu], static_cast<unsigned>(watts * 1e3 + 0.5));
  if (r == kNoPermission) return Status(ErrorCode::kPermission, api_->error("nvmlDeviceSetPowerManagementLimit", r));
  if (r != kSuccess) return Unsupported(api_->error("nvmlDeviceSetPowerManagementLimit", r));
  return Status::Ok();
}

Status NvmlSensor::lock_clocks(int gpu, int min_mhz, int max_mhz) {
  JOULE_RETURN_IF_ERROR(require_root("locking GPU clocks"));
  if (gpu < 0 || gpu >= int(devices_.size())) return InvalidArgument("no GPU " + std::to_string(gpu));
  if (min_mhz <= 0 || max_mhz < min_mhz) return InvalidArgument("locked clocks need 0 < min <= max MHz");
  if (!api_->lock_clocks || !api_->reset_clocks) return Unsupported("this NVML cannot lock clocks");
  const nvmlReturn_t r = api_->lock_clocks(devices_[gpu], min_mhz, max_mhz);
  if (r == kNotSupported) return Unsupported("gpu" + std::to_string(gpu) + " does not support locked clocks");
  if (r != kSuccess) return Unsupported(api_->error("nvmlDeviceSetGpuLockedClocks", r));
  clocks_locked_[gpu] = true;
  return Status::Ok();
}

Expected<ClockRange> NvmlSensor::clock_range(int gpu) const {
  const Api& a = *api_;
  if (gpu < 0 || gpu >= int(devices_.size())) return InvalidArgument("no GPU " + std::to_string(gpu));
  if (!a.memory_clocks || !a.graphics_clocks) return Unsupported("this NVML cannot list supported clocks");
  // Supported graphics clocks depend on the memory clock; the highest memory clock is the one
  // a loaded GPU runs at. Lists are short (an H100 has ~80 graphics clocks).
  std::vector<unsigned> mem(64), gfx(512);
  unsigned n_mem = unsigned(mem.size()), n_gfx = unsigned(gfx.size());
  if (nvmlReturn_t r = a.memory_clocks(devices_[gpu], &n_mem, mem.data()); r != kSuccess || n_mem == 0)
    return Unsupported(a.error("nvmlDeviceGetSupportedMemoryClocks", r));
  const unsigned mem_mhz = *std::max_element(mem.begin(), mem.begin() + n_mem);
  if (nvmlReturn_t r = a.graphics_clocks(devices_[gpu], mem_mhz, &n_gfx, gfx.data()); r != kSuccess || n_gfx == 0)
    return Unsupported(a.error("nvmlDeviceGetSupportedGraphicsClocks", r));
  const auto [lo, hi] = std::minmax_element(gfx.begin(), gfx.begin() + n_gfx);
  return ClockRange{double(*lo), double(*hi)};
}

Status NvmlSensor::unlock_clocks(int gpu) {
  if (gpu < 0 || gpu >= int(devices_.size())) return InvalidArgument("no GPU " + std::to_string(gpu));
  if (!clocks_locked_[size_t(gpu)]) return Status::Ok();
  const nvmlReturn_t r = api_->reset_clocks(devices_[gpu]);
  if (r != kSuccess) return Unsupported(api_->error("nvmlDeviceResetGpuLockedClocks", r));
  clocks_locked_[size_t(gpu)] = false;
  return Status::Ok();
}

Status NvmlSensor::restore() {
  Status first;
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (saved_limit_mw_[i]) {
      const nvmlReturn_t r = api_->set_power_limit(devices_[i], *saved_limit_mw_[i]);
      if (r != kSuccess && first.ok()) first = Unsupported(api_->error("restoring the power limit", r));
      saved_limit_mw_[i].reset();
    }
    if (Status s = unlock_clocks(int(i)); !s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace joule::energy
