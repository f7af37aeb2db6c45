// joule power: a live table of every energy domain (GPUs, CPU packages, DRAM, the CPU estimate),
// like `nvidia-smi dmon` but for all of them. Power per row is the average over the interval from
// the energy readings where a domain has them (exact for counters), else the sensor's power.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "common.h"
#include "core/clock.h"
#include "energy/nvml.h"
#include "energy_cli.h"

namespace joule::cli {
namespace {

struct PowerOptions {
  int interval_ms = 1000;
  double duration_s = 0;  // 0: until Ctrl-C
  bool json = false;
  energy::EstimateParams estimate;
};

volatile std::sig_atomic_t g_stop = 0;
void request_stop(int) { g_stop = 1; }

std::string cell(const std::optional<double>& v, const char* f) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), f, *v);
  return buf;
}

int run(const PowerOptions& o) {
  energy::Detection det = energy::detect_sensors(o.estimate);
  if (det.sensors.empty()) {
    std::string why;
    for (const std::string& m : det.missing) why += "\n  " + m;
    return report_error(NotFound("no energy sensor on this machine:" + why));
  }
  struct Domain {
    energy::Sensor* sensor;
    size_t index;
    energy::DomainInfo info;
    std::optional<double> last_energy_j;
  };
  std::vector<Domain> domains;
  for (auto& s : det.sensors)
    for (size_t i = 0; i < s->domains().size(); ++i) domains.push_back({s.get(), i, s->domains()[i], {}});
  if (!o.json) {
    for (const std::string& m : det.missing) std::fprintf(stderr, "[joule power] missing: %s\n", m.c_str());
    std::fprintf(stderr, "[joule power] every %d ms%s; W = interval average from energy readings where the domain has them\n",
                 o.interval_ms, o.duration_s > 0 ? "" : ", until Ctrl-C");
    for (const Domain& d : domains)
      if (d.info.source == energy::Source::kEstimated)
        std::fprintf(stderr, "[joule power] note: the '%s' estimate follows this process's CPU time (joule power "
                     "itself, nearly idle); joule run and joule bench estimate their own work\n", d.info.name.c_str());
  }
  g_stop = 0;
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);

  const double t0 = monotonic_seconds();
  double last_t = t0;
  int rows = 0;
  auto read_all = [&](std::vector<energy::Reading>& out) {
    out.assign(domains.size(), energy::Reading{});
    for (auto& s : det.sensors) {
      std::vector<energy::Reading> r(s->domains().size());
      if (!s->read(r).ok()) continue;
      for (size_t k = 0; k < domains.size(); ++k)
        if (domains[k].sensor == s.get()) out[k] = r[domains[k].index];
    }
  };
  std::vector<energy::Reading> now;
  read_all(now);
  for (size_t k = 0; k < domains.size(); ++k) domains[k].last_energy_j = now[k].energy_j;
  auto next = std::chrono::steady_clock::now();
  while (!g_stop) {
    next += std::chrono::milliseconds(o.interval_ms);
    std::this_thread::sleep_until(next);
    if (g_stop) break;
    read_all(now);
    const double t = monotonic_seconds();
    const double dt = t - last_t;
    last_t = t;
    nlohmann::json jrow = {{"t_s", t - t0}, {"domains", nlohmann::json::array()}};
    if (!o.json && rows % 20 == 0)
      std::printf("%8s %-16s %-9s %9s %9s %11s %6s %6s %6s %5s %s\n", "# t_s", "domain", "source", "W",
                  "W_sensor", "energy_J", "temp_C", "sm_MHz", "mem_MHz", "util%", "clock_events");
    for (size_t k = 0; k < domains.size(); ++k) {
      Domain& d = domains[k];
      const energy::Reading& r = now[k];
      std::optional<double> avg_w;
      if (r.energy_j && d.last_energy_j && dt > 0) avg_w = (*r.energy_j - *d.last_energy_j) / dt;
      else if (r.power_w) avg_w = r.power_w;
      if (r.energy_j) d.last_energy_j = r.energy_j;
      const std::string events = r.clock_event_reasons ? energy::clock_event_names(*r.clock_event_reasons) : "";
      if (o.json) {
        nlohmann::json j = {{"domain", d.info.name}, {"source", energy::source_name(d.info.source)}};
        auto put = [&](const char* key, const std::optional<double>& v) { if (v) j[key] = *v; };
        put("power_w", avg_w);
        put("sensor_power_w", r.power_w);
        put("energy_j", r.energy_j);
        put("temp_c", r.temp_c);
        put("sm_clock_mhz", r.sm_clock_mhz);
        put("mem_clock_mhz", r.mem_clock_mhz);
        put("util_pct", r.util_pct);
        if (r.clock_event_reasons) j["clock_events"] = events;
        jrow["domains"].push_back(j);
      } else {
        std::printf("%8.2f %-16s %-9s %9s %9s %11s %6s %6s %6s %5s %s\n", t - t0, d.info.name.c_str(),
                    energy::source_name(d.info.source), cell(avg_w, "%.1f").c_str(),
                    cell(r.power_w, "%.1f").c_str(), cell(r.energy_j, "%.2f").c_str(),
                    cell(r.temp_c, "%.0f").c_str(), cell(r.sm_clock_mhz, "%.0f").c_str(),
                    cell(r.mem_clock_mhz, "%.0f").c_str(), cell(r.util_pct, "%.0f").c_str(),
                    events.empty() ? "-" : events.c_str());
      }
    }
    if (o.json) std::cout << jrow.dump() << "\n";
    std::fflush(stdout);
    ++rows;
    if (o.duration_s > 0 && t - t0 >= o.duration_s - 1e-3) break;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return 0;
}

}  // namespace

void register_power(CLI::App& app, Action& action) {
  auto o = std::make_shared<PowerOptions>();
  CLI::App* cmd = app.add_subcommand("power", "live power and energy of every sensor (GPU, CPU, DRAM, estimate)");
  cmd->add_option("--interval-ms", o->interval_ms, "time between rows")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000));
  cmd->add_option("--duration", o->duration_s, "stop after this many seconds (default: until Ctrl-C)")
      ->check(CLI::NonNegativeNumber);
  add_estimate_options(cmd, &o->estimate);
  cmd->add_flag("--json", o->json, "one JSON object per interval (JSON lines)");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace joule::cli
