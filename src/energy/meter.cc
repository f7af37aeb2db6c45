#include "energy/meter.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "core/clock.h"

namespace joule::energy {

const char* source_name(Source s) {
  switch (s) {
    case Source::kCounter: return "counter";
    case Source::kSampled: return "sampled";
    case Source::kEstimated: return "estimated";
  }
  return "?";
}

Expected<std::unique_ptr<Meter>> Meter::create(std::vector<std::unique_ptr<Sensor>> sensors,
                                               const MeterOptions& opt) {
  if (!(opt.sample_hz >= 1 && opt.sample_hz <= 100))
    return InvalidArgument("the sampling rate must be between 1 and 100 Hz");
  if (opt.max_samples < 16) return InvalidArgument("the sample buffer must hold at least 16 samples");
  return std::unique_ptr<Meter>(new Meter(std::move(sensors), opt));
}

Meter::Meter(std::vector<std::unique_ptr<Sensor>> sensors, const MeterOptions& opt)
    : opt_(opt), t_origin_s_(monotonic_seconds()), sensors_(std::move(sensors)) {
  for (const auto& s : sensors_) {
    sensor_span_.emplace_back(domains_.size(), s->domains().size());
    for (const DomainInfo& d : s->domains()) domains_.push_back(d);
  }
  series_.resize(domains_.size());
  dropped_.assign(domains_.size(), 0);
  idle_w_.assign(domains_.size(), std::nullopt);
  {
    std::lock_guard<std::mutex> lk(mu_);
    read_all_locked();
  }
  if (!domains_.empty()) thread_ = std::thread([this] { sampler_loop(); });
}

Meter::~Meter() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

double Meter::read_all_locked() {
  const double t = monotonic_seconds();
  for (size_t i = 0; i < sensors_.size(); ++i) {
    const auto [first, count] = sensor_span_[i];
    std::vector<Reading> r(count);
    if (!sensors_[i]->read(r).ok()) continue;  // an unusable sensor leaves a gap, not zeros
    for (size_t k = 0; k < count; ++k) {
      auto& s = series_[first + k];
      s.push_back(Sample{t, r[k]});
      if (s.size() > opt_.max_samples) {
        s.pop_front();
        ++dropped_[first + k];
      }
    }
  }
  samples_taken_.fetch_add(1);
  return t;
}

void Meter::sampler_loop() {
  using clock = std::chrono::steady_clock;
  const auto period = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / opt_.sample_hz));
  auto next = clock::now() + period;
  std::unique_lock<std::mutex> lk(mu_);
  while (!cv_.wait_until(lk, next, [this] { return stop_; })) {
    read_all_locked();
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    sampler_cpu_ns_.store(uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec));
    next += period;
    if (next < clock::now()) next = clock::now() + period;  // fell behind: skip, do not burst
  }
}

double Meter::elapsed_s() const { return monotonic_seconds() - t_origin_s_; }

std::vector<Reading> Meter::read_now() {
  std::lock_guard<std::mutex> lk(mu_);
  read_all_locked();
  std::vector<Reading> out;
  for (const auto& s : series_) out.push_back(s.empty() ? Reading{} : s.back().r);
  return out;
}

Status Meter::begin(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  if (open_windows_.count(name)) return InvalidArgument("energy window '" + name + "' is already open");
  open_windows_[name] = read_all_locked();
  return Status::Ok();
}

Expected<WindowResult> Meter::end(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  const auto it = open_windows_.find(name);
  if (it == open_windows_.end()) return InvalidArgument("energy window '" + name + "' was not begun");
  const double t0 = it->second;
  open_windows_.erase(it);
  const double t1 = read_all_locked();
  WindowResult w{name, t1 - t0, {}};
  for (size_t d = 0; d < domains_.size(); ++d) w.domains.push_back(window_domain_locked(d, t0, t1));
  return w;
}

std::vector<Point> Meter::energy_points_locked(size_t d) const {
  std::vector<Point> p;
  for (const Sample& s : series_[d])
    if (s.r.energy_j) p.push_back({s.t_s, *s.r.energy_j});
  return p;
}

std::vector<Point> Meter::power_points_locked(size_t d) const {
  std::vector<Point> p;
  for (const Sample& s : series_[d])
    if (s.r.power_w) p.push_back({s.t_s, *s.r.power_w});
  return p;
}

namespace {

// The counter's rate over its last two changes at or before t (J/s), if it changed twice.
std::optional<double> recent_rate(const std::vector<Point>& e, double t) {
  int last = -1, prev = -1;
  for (int i = 1; i < static_cast<int>(e.size()) && e[i].t_s <= t; ++i)
    if (e[i].v != e[i - 1].v) {
      prev = last;
      last = i;
    }
  if (prev < 0) return std::nullopt;
  const double dt = e[last].t_s - e[prev].t_s;
  return dt > 0 ? std::optional<double>((e[last].v - e[prev].v) / dt) : std::nullopt;
}

std::string ms(double s) { return std::to_string(static_cast<int>(s * 1e3 + 0.5)) + " ms"; }

}  // namespace

DomainWindow Meter::window_domain_locked(size_t d, double t0, double t1) const {
  const DomainInfo& info = domains_[d];
  DomainWindow w;
  w.domain = info.name;
  w.source = info.source;
  w.duration_s = t1 - t0;
  for (const Sample& s : series_[d]) w.samples += s.t_s >= t0 && s.t_s <= t1;
  const std::vector<Point> e = energy_points_locked(d);
  const std::vector<Point> p = power_points_locked(d);
  std::optional<double> peak;
  for (const Point& q : p) {
    if (q.t_s < t0 || q.t_s > t1) continue;
    if (!peak || q.v > *peak) peak = q.v;
    w.power_series.emplace_back(q.t_s - t0, q.v);
  }
  if (p.empty() && !e.empty()) {
    size_t last = 0;  // the previous change of the counter
    for (size_t i = 1; i < e.size(); ++i) {
      if (e[i].v == e[last].v) continue;
      if (e[i].t_s > t0 && e[i].t_s <= t1 && e[i].t_s > e[last].t_s)
        w.power_series.emplace_back(e[i].t_s - t0, (e[i].v - e[last].v) / (e[i].t_s - e[last].t_s));
      last = i;
    }
  }

  if (info.has_energy && !e.empty()) {
    const double de = *interpolate(e, t1) - *interpolate(e, t0);
    if (de > 0 || w.duration_s == 0) {
      w.energy_j = de;
    } else if (auto rate = recent_rate(e, t1)) {
      w.energy_j = *rate * w.duration_s;
      w.interpolated = true;
      const auto up = update_period_s(e);
      w.note = "the counter did not advance in this window (shorter than its update period" +
               (up ? ", about " + ms(*up) : std::string()) + "): energy from its recent rate";
    } else if (!p.empty()) {
      w.energy_j = integrate_power_j(p, t0, t1);
      w.interpolated = true;
      w.note = "the counter did not advance in this window: energy from power readings";
    } else {
      w.note = "the counter did not advance in this window (shorter than its update period) "
               "and no rate is known yet";
    }
    if (!info.has_power) peak = peak_rate(e, t0, t1);
  } else if (info.has_power && !p.empty()) {
    w.source = Source::kSampled;
    w.energy_j = integrate_power_j(p, t0, t1);
    if (w.duration_s < 1.0 / opt_.sample_hz)
      w.note = "shorter than the sampling period: energy from the power read at its two ends";
  } else {
    w.note = "no readings from this domain";
  }
  if (dropped_[d] > 0 && !series_[d].empty() && series_[d].front().t_s > t0)
    w.note += (w.note.empty() ? "" : "; ") + std::string("samples before ") + ms(series_[d].front().t_s - t0) +
              " into the window were dropped (buffer full)";
  w.peak_power_w = peak;
  if (w.energy_j && w.duration_s > 0) w.avg_power_w = *w.energy_j / w.duration_s;
  if (idle_w_[d]) {
    w.idle_power_w = idle_w_[d];
    if (w.energy_j) w.above_idle_j = *w.energy_j - *idle_w_[d] * w.duration_s;
  }
  return w;
}

Status Meter::measure_idle(double seconds) {
  if (!(seconds > 0)) return InvalidArgument("the idle baseline needs a positive duration");
  const std::string name = "idle-baseline";
  JOULE_RETURN_IF_ERROR(begin(name));
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  JOULE_ASSIGN_OR_RETURN(WindowResult w, end(name));
  std::lock_guard<std::mutex> lk(mu_);
  for (size_t d = 0; d < w.domains.size(); ++d) idle_w_[d] = w.domains[d].avg_power_w;
  return Status::Ok();
}

std::optional<double> Meter::idle_power_w(size_t domain) const {
  std::lock_guard<std::mutex> lk(mu_);
  return domain < idle_w_.size() ? idle_w_[domain] : std::nullopt;
}

namespace {
void put(std::FILE* f, const char* key, const std::optional<double>& v, bool csv) {
  if (csv)
    v ? std::fprintf(f, ",%.6f", *v) : std::fprintf(f, ",");
  else if (v)
    std::fprintf(f, ",\"%s\":%.6f", key, *v);
}
}  // namespace

Status Meter::write_trace(const std::string& path) const {
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return IoError("cannot write the trace " + path);
  std::lock_guard<std::mutex> lk(mu_);
  if (csv)
    std::fprintf(f, "t_s,domain,source,energy_j,power_w,temp_c,sm_clock_mhz,mem_clock_mhz,util_pct,clock_event_reasons\n");
  for (size_t d = 0; d < series_.size(); ++d)
    for (const Sample& s : series_[d]) {
      const Reading& r = s.r;
      if (csv)
        std::fprintf(f, "%.6f,%s,%s", s.t_s - t_origin_s_, domains_[d].name.c_str(), source_name(domains_[d].source));
      else
        std::fprintf(f, "{\"t_s\":%.6f,\"domain\":\"%s\",\"source\":\"%s\"", s.t_s - t_origin_s_,
                     domains_[d].name.c_str(), source_name(domains_[d].source));
      put(f, "energy_j", r.energy_j, csv);
      put(f, "power_w", r.power_w, csv);
      put(f, "temp_c", r.temp_c, csv);
      put(f, "sm_clock_mhz", r.sm_clock_mhz, csv);
      put(f, "mem_clock_mhz", r.mem_clock_mhz, csv);
      put(f, "util_pct", r.util_pct, csv);
      std::optional<double> reasons;
      if (r.clock_event_reasons) reasons = static_cast<double>(*r.clock_event_reasons);
      put(f, "clock_event_reasons", reasons, csv);
      std::fputs(csv ? "\n" : "}\n", f);
    }
  const bool ok = std::fclose(f) == 0;
  return ok ? Status::Ok() : IoError("writing the trace " + path + " failed");
}

}  // namespace joule::energy
