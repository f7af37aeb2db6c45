#include "energy_cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <thread>

#include "backend/cpu/kernels.h"
#include "core/cpu_features.h"
#include "core/strings.h"
#include "energy/estimate.h"

namespace joule::cli {
namespace {

// The write end of the running SignalRestore's pipe (one GPU session per process).
int g_signal_fd = -1;

void on_signal(int sig) {
  const auto b = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_fd, &b, 1);  // write() is async-signal-safe; nothing else happens here
}

}  // namespace

// Changed GPU settings must come back even on Ctrl-C or SIGTERM. The handler only writes the
// signal number to a pipe; a watcher thread restores the settings and then ends the process with
// that signal. Restoring inside the handler deadlocked when the signal arrived while the main
// thread held malloc's lock, since NVML is not async-signal-safe.
class SignalRestore {
 public:
  explicit SignalRestore(energy::NvmlSensor* nvml) {
    if (::pipe2(fd_, O_CLOEXEC) != 0) {  // then settings are still restored on a normal exit
      fd_[0] = fd_[1] = -1;
      return;
    }
    g_signal_fd = fd_[1];
    watcher_ = std::thread([this, nvml] {
      unsigned char sig = 0;
      while (::read(fd_[0], &sig, 1) < 0 && errno == EINTR) {
      }
      if (sig == 0) return;  // the session ended
      (void)nvml->restore();
      std::signal(sig, SIG_DFL);
      std::raise(sig);  // the default action: the process ends as killed by `sig`
    });
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
  }
  ~SignalRestore() {
    if (fd_[1] < 0) return;
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    const unsigned char stop = 0;
    (void)!::write(fd_[1], &stop, 1);
    watcher_.join();
    g_signal_fd = -1;
    ::close(fd_[0]);
    ::close(fd_[1]);
  }
  SignalRestore(const SignalRestore&) = delete;
  SignalRestore& operator=(const SignalRestore&) = delete;

 private:
  int fd_[2] = {-1, -1};
  std::thread watcher_;
};

void add_estimate_options(CLI::App* cmd, energy::EstimateParams* p) {
  cmd->add_option("--cpu-w-per-core", p->w_per_core,
                  "CPU estimate: active power of one busy core, W (default: TDP table, else 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cpu-idle-fraction", p->idle_fraction,
                  "CPU estimate: idle share of a core's active power (default 0.3)")
      ->check(CLI::Range(0.0, 1.0));
}

void add_energy_options(CLI::App* cmd, EnergyOptions* o) {
  cmd->add_flag("--no-energy", o->off, "do not measure energy");
  cmd->add_option("--sample-hz", o->sample_hz, "energy sampling rate, 1-100 Hz")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 100.0));
  cmd->add_option("--idle-baseline", o->idle_baseline_s,
                  "measure idle power for this many seconds first; report energy above idle")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--trace", o->trace, "write every energy sample to FILE (.csv, else JSON lines)");
  cmd->add_option("--gpu-power-limit", o->gpu_power_limit_w,
                  "set every GPU's power limit to W for this run (root only; restored on exit)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--gpu-clocks", o->gpu_clocks,
                  "lock every GPU's SM clock to MIN:MAX MHz for this run (root only; reset on exit)");
  add_estimate_options(cmd, &o->estimate);
}

Expected<std::unique_ptr<EnergySession>> EnergySession::start(const EnergyOptions& o) {
  auto s = std::make_unique<EnergySession>();
  s->opt_ = o;
  if (o.off) {
    if (o.gpu_power_limit_w > 0 || !o.gpu_clocks.empty() || !o.trace.empty() || o.idle_baseline_s > 0)
      return InvalidArgument("--no-energy cannot be combined with --gpu-power-limit, --gpu-clocks, --trace or --idle-baseline");
    return s;
  }
  int clock_min = 0, clock_max = 0;
  if (!o.gpu_clocks.empty()) {
    char tail = 0;
    if (std::sscanf(o.gpu_clocks.c_str(), "%d:%d%c", &clock_min, &clock_max, &tail) != 2 || clock_min <= 0 ||
        clock_max < clock_min)
      return InvalidArgument("--gpu-clocks expects MIN:MAX in MHz with 0 < MIN <= MAX, got '" + o.gpu_clocks + "'");
  }
  energy::Detection d = energy::detect_sensors(o.estimate);
  s->missing_ = std::move(d.missing);
  for (auto& sensor : d.sensors)
    if (auto* n = dynamic_cast<energy::NvmlSensor*>(sensor.get())) s->nvml_ = n;
  // The meter owns the sensors from here on; nvml_ stays valid as long as the meter does.
  JOULE_ASSIGN_OR_RETURN(s->meter_, energy::Meter::create(std::move(d.sensors),
                                                          energy::MeterOptions{.sample_hz = o.sample_hz}));
  if (o.gpu_power_limit_w > 0 || clock_max > 0) {
    if (s->nvml_ == nullptr)
      return NotFound(std::string(o.gpu_power_limit_w > 0 ? "--gpu-power-limit" : "--gpu-clocks") +
                      " needs an NVIDIA GPU; NVML is not available");
    s->signal_restore_ = std::make_unique<SignalRestore>(s->nvml_);
    for (size_t g = 0; g < s->nvml_->domains().size(); ++g) {
      if (o.gpu_power_limit_w > 0)
        JOULE_RETURN_IF_ERROR(s->nvml_->set_power_limit(static_cast<int>(g), o.gpu_power_limit_w));
      if (clock_max > 0) JOULE_RETURN_IF_ERROR(s->nvml_->lock_clocks(static_cast<int>(g), clock_min, clock_max));
    }
  }
  if (o.idle_baseline_s > 0) {
    std::fprintf(stderr, "[joule] measuring idle power for %.1f s ...\n", o.idle_baseline_s);
    JOULE_RETURN_IF_ERROR(s->meter_->measure_idle(o.idle_baseline_s));
  }
  return s;
}

EnergySession::~EnergySession() {
  if (nvml_ != nullptr) (void)nvml_->restore();
  signal_restore_.reset();
}

void EnergySession::begin(const std::string& name) {
  if (!meter_) return;
  if (Status s = meter_->begin(name); !s.ok())
    std::fprintf(stderr, "[joule] energy window '%s': %s\n", name.c_str(), s.message().c_str());
}

std::optional<energy::WindowResult> EnergySession::end(const std::string& name) {
  if (!meter_) return std::nullopt;
  auto w = meter_->end(name);
  if (!w.ok()) {
    std::fprintf(stderr, "[joule] energy window '%s': %s\n", name.c_str(), w.status().message().c_str());
    return std::nullopt;
  }
  results_[name] = *w;
  return *w;
}

const energy::WindowResult* EnergySession::result(const std::string& name) const {
  const auto it = results_.find(name);
  return it == results_.end() ? nullptr : &it->second;
}

Status EnergySession::finish() {
  if (meter_ && !opt_.trace.empty()) return meter_->write_trace(opt_.trace);
  return Status::Ok();
}

nlohmann::json EnergySession::sources_json() const {
  nlohmann::json j = {{"enabled", on()}, {"sample_hz", opt_.sample_hz}};
  if (meter_) {
    j["sampler_cpu_s"] = meter_->sampler_cpu_s();
    j["sampler_cpu_share"] = meter_->sampler_cpu_s() / meter_->elapsed_s();  // of one core
    j["samples"] = meter_->samples_taken();
  }
  nlohmann::json doms = nlohmann::json::array();
  if (meter_)
    for (size_t i = 0; i < meter_->domains().size(); ++i) {
      const energy::DomainInfo& d = meter_->domains()[i];
      nlohmann::json dj = {{"domain", d.name}, {"source", energy::source_name(d.source)},
                           {"description", d.description}};
      if (auto idle = meter_->idle_power_w(i)) dj["idle_power_w"] = *idle;
      doms.push_back(dj);
    }
  j["domains"] = doms;
  j["missing"] = missing_;
  return j;
}

std::string EnergySession::sources_text() const {
  if (!meter_) return "[joule] energy: off (--no-energy)";
  std::string s = "[joule] energy sources:";
  for (const energy::DomainInfo& d : meter_->domains())
    s += " " + d.name + " = " + energy::source_name(d.source) + " (" + d.description + ");";
  if (meter_->domains().empty()) s += " none;";
  for (const std::string& m : missing_) s += " " + m + ";";
  return s;
}

nlohmann::json sensors_json(const energy::Detection& det) {
  nlohmann::json doms = nlohmann::json::array();
  for (const auto& sensor : det.sensors) {
    const auto* nvml = dynamic_cast<const energy::NvmlSensor*>(sensor.get());
    for (size_t i = 0; i < sensor->domains().size(); ++i) {
      const energy::DomainInfo& d = sensor->domains()[i];
      nlohmann::json j = {{"domain", d.name},         {"source", energy::source_name(d.source)},
                          {"energy", d.has_energy},   {"power", d.has_power},
                          {"description", d.description}};
      if (!d.power_note.empty()) j["power_note"] = d.power_note;
      if (nvml != nullptr) {
        if (auto lim = nvml->power_limits(static_cast<int>(i)); lim.ok())
          j["power_limit_w"] = {{"current", lim->current_w}, {"default", lim->default_w},
                                {"min", lim->min_w},         {"max", lim->max_w}};
      }
      doms.push_back(j);
    }
  }
  return {{"domains", doms}, {"missing", det.missing}};
}

nlohmann::json window_json(const energy::WindowResult& w, int tokens) {
  nlohmann::json doms = nlohmann::json::array();
  for (const energy::DomainWindow& d : w.domains) {
    nlohmann::json j = {{"domain", d.domain},
                        {"source", energy::source_name(d.source)},
                        {"duration_s", d.duration_s},
                        {"samples", d.samples},
                        {"interpolated", d.interpolated}};
    auto put = [&](const char* k, const std::optional<double>& v) { j[k] = v ? nlohmann::json(*v) : nlohmann::json(); };
    put("energy_j", d.energy_j);
    put("avg_power_w", d.avg_power_w);
    put("peak_power_w", d.peak_power_w);
    if (d.energy_j && tokens > 0 && *d.energy_j > 0) {
      j["j_per_token"] = *d.energy_j / tokens;
      j["tokens_per_j"] = tokens / *d.energy_j;
    }
    if (d.idle_power_w) {
      put("idle_power_w", d.idle_power_w);
      put("above_idle_j", d.above_idle_j);
    }
    if (!d.note.empty()) j["note"] = d.note;
    doms.push_back(j);
  }
  return {{"window", w.name}, {"duration_s", w.duration_s}, {"tokens", tokens}, {"domains", doms}};
}

std::string window_text(const energy::WindowResult& w, int tokens) {
  std::string out;
  for (const energy::DomainWindow& d : w.domains) {
    if (!out.empty()) out += "; ";
    out += d.domain + " ";
    if (!d.energy_j) {
      out += "no energy (" + d.note + ")";
      continue;
    }
    out += format_number("%.3g J ", *d.energy_j) + energy::source_name(d.source);
    if (d.interpolated) out += ", interpolated";
    if (tokens > 0 && *d.energy_j > 0)
      out += format_number(", %.3g J/tok", *d.energy_j / tokens) + format_number(", %.3g tok/J", tokens / *d.energy_j);
    if (d.avg_power_w) out += format_number(", %.1f W", *d.avg_power_w);
    if (d.above_idle_j) out += format_number(", %.3g J above idle", *d.above_idle_j);
  }
  return out;
}

govern::Devices local_devices(const std::vector<energy::DomainInfo>& domains, energy::NvmlSensor* nvml) {
  return govern::discover_devices(domains, nvml, cpu_features().model_name,
                                  std::string("cpu (") + cpu::best_kernels().isa + " kernels)");
}

}  // namespace joule::cli
