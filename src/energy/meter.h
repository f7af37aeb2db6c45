// The meter: a background sampler over all sensors plus named measurement windows.
//
// The sampler thread reads every sensor at sample_hz (1-100, default 10) into a bounded series
// per domain. begin(name) and end(name) also read every sensor at once, so a window's ends are
// exact readings, not the nearest samples. Windows nest and overlap freely (like Zeus'
// begin_window / end_window). Per domain a window reports:
//   * energy from the energy reading (counter, or the estimate's model) when the domain has one:
//     end minus begin. If the counter did not advance (a window shorter than its update period)
//     the energy is interpolated from the counter's recent rate and marked `interpolated`.
//   * otherwise power samples integrated over the window (source `sampled`).
// Never a silent 0 J: a window whose energy cannot be known has no energy_j and says why.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "energy/integrate.h"
#include "energy/sensor.h"

namespace joule::energy {

struct MeterOptions {
  double sample_hz = 10;
  size_t max_samples = size_t{1} << 16;  // per domain; the oldest are dropped beyond this
};

struct DomainWindow {
  std::string domain;
  Source source = Source::kSampled;
  std::optional<double> energy_j;
  double duration_s = 0;
  std::optional<double> avg_power_w;
  std::optional<double> peak_power_w;
  int samples = 0;            // readings inside the window, its two ends included
  bool interpolated = false;  // shorter than the counter's update period: from its rate
  std::optional<double> idle_power_w;   // with an idle baseline
  std::optional<double> above_idle_j;
  std::string note;           // why energy is missing or approximate
  // Power over the window, (seconds since its start, W): the sensor's power readings, or for
  // energy-only counters the rate between consecutive counter changes.
  std::vector<std::pair<double, double>> power_series;
};

struct WindowResult {
  std::string name;
  double duration_s = 0;
  std::vector<DomainWindow> domains;
};

// One timestamped reading of one domain.
struct Sample {
  double t_s;
  Reading r;
};

class Meter {
 public:
  static Expected<std::unique_ptr<Meter>> create(std::vector<std::unique_ptr<Sensor>> sensors,
                                                 const MeterOptions& opt);
  ~Meter();

  const std::vector<DomainInfo>& domains() const { return domains_; }
  double sample_hz() const { return opt_.sample_hz; }

  Status begin(const std::string& name);
  Expected<WindowResult> end(const std::string& name);

  // Sleeps for `seconds` and records each domain's average power as its idle baseline; later
  // windows also report energy above idle.
  Status measure_idle(double seconds);
  std::optional<double> idle_power_w(size_t domain) const;

  // Reads every sensor now (also recorded in the series).
  std::vector<Reading> read_now();

  // Every recorded sample, one JSON object per line (.jsonl) or CSV (a .csv path).
  Status write_trace(const std::string& path) const;
  uint64_t samples_taken() const { return samples_taken_.load(); }
  // CPU time the sampler thread has used: its overhead, exactly (not inferred from speed).
  double sampler_cpu_s() const { return sampler_cpu_ns_.load() * 1e-9; }
  double elapsed_s() const;  // since the meter was created

 private:
  Meter(std::vector<std::unique_ptr<Sensor>> sensors, const MeterOptions& opt);
  double read_all_locked();  // appends one sample per domain; returns its time
  void sampler_loop();
  std::vector<Point> energy_points_locked(size_t d) const;
  std::vector<Point> power_points_locked(size_t d) const;
  DomainWindow window_domain_locked(size_t d, double t0, double t1) const;

  MeterOptions opt_;
  double t_origin_s_ = 0;  // trace times are relative to the meter's creation
  std::vector<std::unique_ptr<Sensor>> sensors_;
  std::vector<DomainInfo> domains_;
  std::vector<std::pair<size_t, size_t>> sensor_span_;  // first domain, count per sensor

  mutable std::mutex mu_;
  std::vector<std::deque<Sample>> series_;  // per domain
  std::vector<uint64_t> dropped_;
  std::map<std::string, double> open_windows_;  // name -> begin time
  std::vector<std::optional<double>> idle_w_;
  std::atomic<uint64_t> samples_taken_{0};
  std::atomic<uint64_t> sampler_cpu_ns_{0};

  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace joule::energy
