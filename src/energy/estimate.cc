#include "energy/estimate.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "core/clock.h"
#include "core/process.h"

namespace joule::energy {
namespace {

// Package TDP and cores of some common server and desktop CPUs (vendor data sheets).
struct TdpEntry {
  const char* model_substring;
  double tdp_w;
  int cores;
};
constexpr TdpEntry kTdpTable[] = {
    {"Platinum 8480", 350, 56}, {"Platinum 8470", 350, 52}, {"Platinum 8380", 270, 40},
    {"Platinum 8358", 250, 32}, {"Gold 6448Y", 225, 32},    {"Gold 6338", 205, 32},
    {"Gold 6248", 150, 20},     {"EPYC 9654", 360, 96},     {"EPYC 9554", 360, 64},
    {"EPYC 7763", 280, 64},     {"EPYC 7742", 225, 64},     {"EPYC 7543", 225, 32},
    {"i9-13900K", 125, 24},     {"i7-12700", 65, 12},       {"Ryzen 9 7950X", 170, 16},
};

}  // namespace

std::string EstimateModel::describe() const {
  char buf[320];
  const std::string whose = pid > 0 ? "the CPU time of process " + std::to_string(pid) + " and its children"
                                    : "process CPU time";
  std::snprintf(buf, sizeof(buf), "estimate: %d cores x %.2f W/core (%s), idle fraction %.2f, from %s", n_cores,
                w_per_core, basis.c_str(), idle_fraction, whose.c_str());
  return buf;
}

Expected<EstimateModel> make_estimate_model(const EstimateParams& p, const std::string& cpu_model,
                                            int n_cores) {
  if (n_cores < 1) return InvalidArgument("the estimate needs at least one core");
  if (p.w_per_core < 0) return InvalidArgument("--cpu-w-per-core must be > 0");
  if (p.idle_fraction > 1) return InvalidArgument("--cpu-idle-fraction must be in [0, 1]");
  EstimateModel m;
  m.n_cores = n_cores;
  m.pid = p.pid;
  m.idle_fraction = p.idle_fraction >= 0 ? p.idle_fraction : kDefaultIdleFraction;
  if (p.w_per_core > 0) {
    m.w_per_core = p.w_per_core;
    m.basis = "--cpu-w-per-core";
  } else {
    m.w_per_core = kDefaultWPerCore;
    m.basis = "default per-core figure; CPU '" + cpu_model + "' not in the TDP table";
    for (const TdpEntry& e : kTdpTable)
      if (cpu_model.find(e.model_substring) != std::string::npos) {
        m.w_per_core = e.tdp_w / e.cores;
        char buf[128];
        std::snprintf(buf, sizeof(buf), "TDP table: %s %.0f W / %d cores", e.model_substring, e.tdp_w, e.cores);
        m.basis = buf;
        break;
      }
  }
  return m;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Expected<double> estimate_cpu_seconds(int pid) {
  if (pid <= 0) return process_cpu_seconds();
  return process_tree_cpu_seconds(static_cast<pid_t>(pid));
}

CpuEstimateSensor::CpuEstimateSensor(EstimateModel m) : model_(std::move(m)) {
  domains_.push_back(DomainInfo{.name = "cpu",
                                .description = model_.describe(),
                                .source = Source::kEstimated,
                                .has_energy = true,
                                .has_power = true,
                                .power_note = "modelled from CPU time since the previous reading"});
  wall0_s_ = last_wall_s_ = monotonic_seconds();
  const Expected<double> cpu = estimate_cpu_seconds(model_.pid);
  if (!cpu.ok()) first_read_ = cpu.status();
  cpu0_s_ = last_cpu_s_ = cpu.ok() ? *cpu : 0;
}

Status CpuEstimateSensor::read(std::span<Reading> out) {
  JOULE_RETURN_IF_ERROR(first_read_);
  const double wall = monotonic_seconds();
  JOULE_ASSIGN_OR_RETURN(const double cpu, estimate_cpu_seconds(model_.pid));
  const double busy_w = model_.w_per_core * (1 - model_.idle_fraction);
  const double idle_w = model_.w_per_core * model_.idle_fraction * model_.n_cores;
  Reading& r = out[0];
  r = Reading{};
  r.energy_j = idle_w * (wall - wall0_s_) + busy_w * (cpu - cpu0_s_);
  const double dt = wall - last_wall_s_;
  if (dt > 0) r.power_w = idle_w + busy_w * (cpu - last_cpu_s_) / dt;
  const double util = dt > 0 ? (cpu - last_cpu_s_) / dt / model_.n_cores : 0;
  r.util_pct = 100 * std::min(1.0, std::max(0.0, util));
  last_wall_s_ = wall;
  last_cpu_s_ = cpu;
  return Status::Ok();
}

}  // namespace joule::energy
