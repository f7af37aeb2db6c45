// Device controls over fake sysfs trees and the fake NVML, temperatures from fake hwmon and
// thermal trees, and the governor driven by scripted power, temperature and latency traces.
#include "govern/governor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "govern/device.h"
#include "govern/thermal.h"

namespace joule::govern {
namespace {

namespace fs = std::filesystem;
using sched::Priority;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

class FakeSysfs : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("joule_govern_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* d : {"cpufreq", "powercap", "hwmon", "thermal"}) fs::create_directories(root_ / d);
    setenv("JOULE_CPUFREQ_ROOT", (root_ / "cpufreq").c_str(), 1);
    setenv("JOULE_POWERCAP_ROOT", (root_ / "powercap").c_str(), 1);
    setenv("JOULE_HWMON_ROOT", (root_ / "hwmon").c_str(), 1);
    setenv("JOULE_THERMAL_ROOT", (root_ / "thermal").c_str(), 1);
  }
  void TearDown() override {
    for (const char* v : {"JOULE_CPUFREQ_ROOT", "JOULE_POWERCAP_ROOT", "JOULE_HWMON_ROOT", "JOULE_THERMAL_ROOT"})
      unsetenv(v);
    fs::remove_all(root_);
  }
  void write(const fs::path& rel, const std::string& v) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << v << "\n";
  }
  void cpufreq_policy(int n, int max_khz = 3000000) {
    const std::string p = "cpufreq/policy" + std::to_string(n) + "/";
    write(p + "cpuinfo_min_freq", "1000000");
    write(p + "cpuinfo_max_freq", std::to_string(max_khz));
    write(p + "scaling_max_freq", std::to_string(max_khz));
    write(p + "scaling_governor", "schedutil");
  }
  fs::path root_;
};

TEST_F(FakeSysfs, NothingFoundSaysWhyPerKind) {
  Controls c = discover_controls(nullptr);
  EXPECT_TRUE(c.found.empty());
  ASSERT_EQ(c.missing.size(), 3u);
  EXPECT_NE(c.missing[0].find("cpufreq"), std::string::npos);
  EXPECT_NE(c.missing[1].find("RAPL"), std::string::npos);
  EXPECT_NE(c.missing[2].find("NVML"), std::string::npos);
  const ThermalSensors t = ThermalSensors::discover();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.missing().size(), 2u);
}

TEST_F(FakeSysfs, CpufreqAndRaplLimitsAreSetInRangeAndRestored) {
  cpufreq_policy(0);
  cpufreq_policy(1);
  write("powercap/intel-rapl:0/name", "package-0");
  write("powercap/intel-rapl:0/constraint_0_power_limit_uw", "150000000");
  write("powercap/intel-rapl:0/constraint_0_max_power_uw", "200000000");
  write("powercap/intel-rapl:0:0/name", "core");  // a subzone: no control of its own
  Controls c = discover_controls(nullptr);
  ASSERT_EQ(c.found.size(), 2u);
  Control& freq = *c.found[0];
  Control& rapl = *c.found[1];
  EXPECT_EQ(freq.info().name, "cpufreq");
  EXPECT_EQ(freq.info().kind, ControlKind::kFrequencyLimit);
  EXPECT_EQ(freq.info().min, 1000);
  EXPECT_EQ(freq.info().max, 3000);
  EXPECT_EQ(freq.info().original, 3000);
  EXPECT_NE(freq.info().description.find("schedutil"), std::string::npos);
  EXPECT_EQ(rapl.info().name, "rapl:package-0");
  EXPECT_EQ(rapl.info().original, 150);
  EXPECT_EQ(rapl.info().max, 200);
  EXPECT_EQ(rapl.info().min, 50);
  if (geteuid() == 0 || access((root_ / "cpufreq/policy0/scaling_max_freq").c_str(), W_OK) == 0) {
    ASSERT_TRUE(freq.info().writable);
    ASSERT_TRUE(freq.set(2200).ok());
    EXPECT_EQ(slurp(root_ / "cpufreq/policy0/scaling_max_freq"), "2200000");
    EXPECT_EQ(slurp(root_ / "cpufreq/policy1/scaling_max_freq"), "2200000");
    EXPECT_EQ(freq.set(500).code(), ErrorCode::kInvalidArgument);
    ASSERT_TRUE(rapl.set(100).ok());
    EXPECT_EQ(slurp(root_ / "powercap/intel-rapl:0/constraint_0_power_limit_uw"), "100000000");
    ASSERT_TRUE(c.restore_all().ok());
    EXPECT_EQ(slurp(root_ / "cpufreq/policy1/scaling_max_freq"), "3000000");
    EXPECT_EQ(slurp(root_ / "powercap/intel-rapl:0/constraint_0_power_limit_uw"), "150000000");
  }
}

TEST_F(FakeSysfs, TemperaturesFromHwmonAndThermalZones) {
  write("hwmon/hwmon0/name", "k10temp");
  write("hwmon/hwmon0/temp1_input", "61500");
  write("hwmon/hwmon0/temp3_input", "70000");
  write("thermal/thermal_zone0/type", "x86_pkg_temp");
  write("thermal/thermal_zone0/temp", "65000");
  const ThermalSensors t = ThermalSensors::discover();
  const std::vector<Temperature> r = t.read();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].sensor, "k10temp/temp1");
  EXPECT_DOUBLE_EQ(r[0].celsius, 61.5);
  EXPECT_EQ(r[1].sensor, "k10temp/temp3");
  EXPECT_EQ(r[2].sensor, "x86_pkg_temp");
  EXPECT_DOUBLE_EQ(r[2].celsius, 65);
  fs::remove(root_ / "hwmon/hwmon0/temp3_input");  // a sensor that went away is left out
  EXPECT_EQ(t.read().size(), 2u);
}

// The CPU estimate's shape: idle share plus active power times the time spent in steps.
double cpu_power_w(const Throttle& t, double busy_w = 14, double idle_w = 6) { return idle_w + busy_w * t.duty; }

TEST_F(FakeSysfs, NvmlPowerLimitsThroughTheFakeLibrary) {
  setenv("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML, 1);
  write("nvml/script.txt", "devices 2\nlimit 300 100 400 350\nstate_file " + (root_ / "nvml/state.txt").string());
  setenv("JOULE_FAKE_NVML_SCRIPT", (root_ / "nvml/script.txt").c_str(), 1);
  {
    auto nvml = energy::NvmlSensor::open();
    ASSERT_TRUE(nvml.ok()) << nvml.status().message();
    Controls c = discover_controls(nvml->get());
    ASSERT_EQ(c.found.size(), 4u);  // a power limit and locked clocks per GPU
    EXPECT_EQ(c.found[2]->info().name, "nvml:gpu1");
    EXPECT_EQ(c.found[0]->info().min, 100);
    EXPECT_EQ(c.found[0]->info().original, 300);
    if (geteuid() == 0) {
      Governor g({.power_cap_w = 250.0}, {c.found[0].get()});
      g.update({.now_s = 1, .power_w = 280.0});
      EXPECT_EQ(slurp(root_ / "nvml/state.txt").substr(0, 15), "limit_mw=280000");  // one step of 300 -> 100
      ASSERT_TRUE(g.restore().ok());
      EXPECT_EQ(slurp(root_ / "nvml/state.txt").substr(0, 15), "limit_mw=300000");
    } else {
      EXPECT_FALSE(c.found[0]->info().writable);
    }
  }
  unsetenv("JOULE_NVML_LIBRARY");
  unsetenv("JOULE_FAKE_NVML_SCRIPT");
}

TEST_F(FakeSysfs, NvmlLockedClocksAreAFrequencyLimitReleasedAtTheTop) {
  setenv("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML, 1);
  write("nvml/script.txt", "clocks 300 1800 15\nstate_file " + (root_ / "nvml/state.txt").string());
  setenv("JOULE_FAKE_NVML_SCRIPT", (root_ / "nvml/script.txt").c_str(), 1);
  {
    auto nvml = energy::NvmlSensor::open();
    ASSERT_TRUE(nvml.ok()) << nvml.status().message();
    Controls c = discover_controls(nvml->get());
    ASSERT_EQ(c.found.size(), 2u);
    Control& clocks = *c.found[1];
    EXPECT_EQ(clocks.info().name, "nvml:gpu0:clocks");
    EXPECT_EQ(clocks.info().kind, ControlKind::kFrequencyLimit);
    EXPECT_EQ(clocks.info().min, 300);
    EXPECT_EQ(clocks.info().max, 1800);
    EXPECT_EQ(clocks.info().original, 1800);  // found unlocked: the top of the range
    EXPECT_EQ(clocks.set(2000).code(), ErrorCode::kInvalidArgument);
    if (geteuid() == 0) {
      ASSERT_TRUE(clocks.set(1200).ok());
      EXPECT_EQ(slurp(root_ / "nvml/state.txt"), "limit_mw=300000 locked=300-1200");
      ASSERT_TRUE(clocks.restore().ok());
      EXPECT_EQ(slurp(root_ / "nvml/state.txt"), "limit_mw=300000 locked=none");
      // The governor's energy policy turns it like any frequency limit, and gives it back.
      Governor g({.energy_policy = true, .slo_tpot_ms = 100.0}, {&clocks});
      g.update({.now_s = 1, .tpot_p90_ms = 20.0});
      EXPECT_LT(clocks.value(), 1800);
      EXPECT_NE(slurp(root_ / "nvml/state.txt").find("locked=300-"), std::string::npos);
      ASSERT_TRUE(g.restore().ok());
      EXPECT_EQ(slurp(root_ / "nvml/state.txt"), "limit_mw=300000 locked=none");
    } else {
      EXPECT_EQ(clocks.set(1200).code(), ErrorCode::kPermission);
    }
  }
  unsetenv("JOULE_NVML_LIBRARY");
  unsetenv("JOULE_FAKE_NVML_SCRIPT");
}

TEST_F(FakeSysfs, CpufreqGovernorIsSetOnEveryPolicyAndRestored) {
  cpufreq_policy(0);
  cpufreq_policy(1);
  for (const char* p : {"policy0", "policy1"})
    write(fs::path("cpufreq") / p / "scaling_available_governors", "performance powersave schedutil");
  Controls c = discover_controls(nullptr);
  ASSERT_NE(c.cpufreq_governor, nullptr);
  CpufreqGovernor& g = *c.cpufreq_governor;
  EXPECT_EQ(g.original(), "schedutil");
  EXPECT_EQ(g.available(), (std::vector<std::string>{"performance", "powersave", "schedutil"}));
  const Status bad = g.set("ondemand");
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("performance, powersave, schedutil"), std::string::npos) << bad.message();
  ASSERT_TRUE(g.set("performance").ok());
  EXPECT_EQ(slurp(root_ / "cpufreq/policy0/scaling_governor"), "performance");
  EXPECT_EQ(slurp(root_ / "cpufreq/policy1/scaling_governor"), "performance");
  ASSERT_TRUE(c.restore_all().ok());
  EXPECT_EQ(slurp(root_ / "cpufreq/policy0/scaling_governor"), "schedutil");
  EXPECT_EQ(slurp(root_ / "cpufreq/policy1/scaling_governor"), "schedutil");
}

TEST_F(FakeSysfs, DevicesJoinBackendEnergyControlsAndTemperatures) {
  cpufreq_policy(0);
  write("hwmon/hwmon0/name", "k10temp");
  write("hwmon/hwmon0/temp1_input", "51000");
  setenv("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML, 1);
  write("nvml/script.txt", "devices 2\nname Fake H200");
  setenv("JOULE_FAKE_NVML_SCRIPT", (root_ / "nvml/script.txt").c_str(), 1);
  {
    auto nvml = energy::NvmlSensor::open();
    ASSERT_TRUE(nvml.ok()) << nvml.status().message();
    std::vector<energy::DomainInfo> domains = (*nvml)->domains();
    energy::DomainInfo cpu_estimate;
    cpu_estimate.name = "cpu";
    cpu_estimate.source = energy::Source::kEstimated;
    domains.push_back(cpu_estimate);
    const Devices d = discover_devices(domains, nvml->get(), "Test CPU", "cpu (avx2 kernels)");
    ASSERT_EQ(d.devices.size(), 3u);
    const Device& cpu = d.devices[0];
    EXPECT_EQ(cpu.name, "cpu");
    EXPECT_EQ(cpu.backend, "cpu (avx2 kernels)");
    ASSERT_EQ(cpu.energy.size(), 1u);
    EXPECT_EQ(cpu.energy[0].source, energy::Source::kEstimated);
    ASSERT_EQ(cpu.controls.size(), 1u);
    EXPECT_EQ(cpu.controls[0]->info().name, "cpufreq");
    EXPECT_TRUE(cpu.has_cpufreq_governor);
    EXPECT_EQ(cpu.temperatures, std::vector<std::string>{"k10temp/temp1"});
    for (int i = 1; i <= 2; ++i) {
      const Device& gpu = d.devices[size_t(i)];
      EXPECT_EQ(gpu.name, "gpu" + std::to_string(i - 1));
      EXPECT_EQ(gpu.description, "Fake H200");
      ASSERT_EQ(gpu.energy.size(), 1u);
      EXPECT_EQ(gpu.energy[0].name, gpu.name);
      ASSERT_EQ(gpu.controls.size(), 2u);
      EXPECT_EQ(gpu.controls[0]->info().name, "nvml:" + gpu.name);
      EXPECT_EQ(gpu.controls[1]->info().name, "nvml:" + gpu.name + ":clocks");
    }
    EXPECT_EQ(d.actuators().size(), 5u);
  }
  unsetenv("JOULE_NVML_LIBRARY");
  unsetenv("JOULE_FAKE_NVML_SCRIPT");
}

TEST(Governor, PowerCapByAdmissionAloneConvergesAndUrgentIsLast) {
  Governor g({.power_cap_w = 14.0}, {});
  Throttle t;
  double p = 0;
  for (int i = 0; i < 40; ++i) {
    p = cpu_power_w(t);
    t = g.update({.now_s = double(i), .power_w = p});
    EXPECT_TRUE(t.admit[0]) << "urgent admission is never paused";
  }
  EXPECT_NEAR(cpu_power_w(t), 14, 14 * 0.05);
  EXPECT_FALSE(t.admit[2]);  // low paused
  EXPECT_LT(t.duty, 1);
  EXPECT_FALSE(t.pace_urgent);
  const std::vector<Decision> d = g.take_decisions();
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d.front().setting, "admission:low");
  EXPECT_EQ(d.front().from, "open");
  EXPECT_EQ(d.front().to, "paused");
  EXPECT_NE(d.front().reason.find("> cap 14 W"), std::string::npos);
  // The load goes away: power falls under the cap, the levers are released.
  for (int i = 40; i < 80; ++i) t = g.update({.now_s = double(i), .power_w = 6.0});
  EXPECT_EQ(t.duty, 1);
  EXPECT_TRUE(t.admit[1] && t.admit[2]);
}

TEST(Governor, AnImpossibleCapPacesUrgentWorkToo) {
  Governor g({.power_cap_w = 5.0}, {});
  Throttle t;
  for (int i = 0; i < 40; ++i) t = g.update({.now_s = double(i), .power_w = cpu_power_w(t)});
  EXPECT_TRUE(t.pace_urgent);
  EXPECT_FALSE(t.admit[1]);
  EXPECT_TRUE(t.admit[0]);
  EXPECT_NEAR(t.duty, 0.05, 1e-9);
}

TEST_F(FakeSysfs, DeviceLimitsComeBeforeAdmissionAndAreRestored) {
  cpufreq_policy(0);
  Controls c = discover_controls(nullptr);
  ASSERT_EQ(c.found.size(), 1u);
  if (!c.found[0]->info().writable) GTEST_SKIP() << "the fake tree is not writable here";
  Governor g({.power_cap_w = 20.0}, {c.found[0].get()});
  // Power follows the frequency limit: 30 W at 3 GHz, 10 W at 1 GHz.
  auto power = [&] { return 10 + 20 * (c.found[0]->value() - 1000) / 2000; };
  Throttle t;
  for (int i = 0; i < 30; ++i) t = g.update({.now_s = double(i), .power_w = power()});
  EXPECT_LE(power(), 20.0 + 1e-9);
  EXPECT_GT(c.found[0]->value(), 1000);  // not driven to its floor
  EXPECT_EQ(t.duty, 1);                   // the device limit sufficed: no pacing
  EXPECT_TRUE(t.admit[2]);
  EXPECT_EQ(slurp(root_ / "cpufreq/policy0/scaling_max_freq"), std::to_string(int(c.found[0]->value() * 1000)));
  const std::vector<Decision> d = g.take_decisions();
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0].setting, "cpufreq");
  EXPECT_EQ(d[0].from, "3000 MHz");
  EXPECT_EQ(d[0].to, "2800 MHz");
  ASSERT_TRUE(g.restore().ok());
  EXPECT_EQ(slurp(root_ / "cpufreq/policy0/scaling_max_freq"), "3000000");
}

TEST_F(FakeSysfs, AFailingControlDegradesToAdmissionWithAReason) {
  cpufreq_policy(0);
  fs::remove(root_ / "cpufreq/policy0/scaling_max_freq");
  fs::create_directories(root_ / "cpufreq/policy0/scaling_max_freq");  // a write fails (EISDIR)
  write("cpufreq/policy0/scaling_max_freq/x", "");
  Controls c = discover_controls(nullptr);
  ASSERT_EQ(c.found.size(), 0u);  // unreadable: reported missing, not offered
  ASSERT_EQ(c.missing.size(), 3u);
  EXPECT_NE(c.missing[0].find("scaling_max_freq"), std::string::npos);

  // A control that reads but cannot be written (EISDIR on write via a policy whose file is a dir).
  cpufreq_policy(1);
  cpufreq_policy(2);
  fs::remove(root_ / "cpufreq/policy2/scaling_max_freq");
  fs::create_directories(root_ / "cpufreq/policy2/scaling_max_freq");
  fs::remove_all(root_ / "cpufreq/policy0");
  Controls c2 = discover_controls(nullptr);
  ASSERT_EQ(c2.found.size(), 1u);
  if (!c2.found[0]->info().writable) GTEST_SKIP() << "the fake tree is not writable here";
  Governor g({.power_cap_w = 10.0}, {c2.found[0].get()});
  Throttle t;
  for (int i = 0; i < 30; ++i) t = g.update({.now_s = double(i), .power_w = cpu_power_w(t, 14, 2)});
  const std::vector<Decision> d = g.take_decisions();
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0].setting, "cpufreq");
  EXPECT_NE(d[0].reason.find("failed"), std::string::npos);
  EXPECT_NEAR(cpu_power_w(t, 14, 2), 10, 0.5);  // held by admission and pacing instead
}

TEST(Governor, ThermalGatingPausesLowThenNormalAndReopensBelowTheMargin) {
  Governor g({.max_temp_c = 85.0, .temp_margin_c = 5}, {});
  Throttle t = g.update({.now_s = 0, .temp_c = 80.0});
  EXPECT_TRUE(t.admit[2]);
  t = g.update({.now_s = 1, .temp_c = 90.0});
  EXPECT_FALSE(t.admit[2]);
  EXPECT_TRUE(t.admit[1]);
  t = g.update({.now_s = 2, .temp_c = 88.0});
  EXPECT_FALSE(t.admit[1]);
  EXPECT_TRUE(t.admit[0]);
  t = g.update({.now_s = 3, .temp_c = 83.0});  // under 85 but not under 80: hold
  EXPECT_FALSE(t.admit[1]);
  t = g.update({.now_s = 4, .temp_c = 79.0});
  EXPECT_TRUE(t.admit[1]);
  EXPECT_FALSE(t.admit[2]);
  t = g.update({.now_s = 5, .temp_c = 78.0});
  EXPECT_TRUE(t.admit[2]);
  const std::vector<Decision> d = g.take_decisions();
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].setting, "admission:low");
  EXPECT_NE(d[0].reason.find("temperature 90 C > 85 C"), std::string::npos);
  EXPECT_EQ(d[3].to, "open");
}

TEST_F(FakeSysfs, EnergyPolicyLowersTheClockWhileLatencyHasSlackAndRaisesItAtOnce) {
  cpufreq_policy(0);
  Controls c = discover_controls(nullptr);
  if (!c.found[0]->info().writable) GTEST_SKIP() << "the fake tree is not writable here";
  Governor g({.energy_policy = true, .slo_tpot_ms = 50.0}, {c.found[0].get()});
  // TPOT grows as the clock falls: 20 ms at 3 GHz, 60 ms at 1 GHz.
  auto tpot = [&] { return 20 * 3000 / c.found[0]->value(); };
  for (int i = 0; i < 20; ++i) g.update({.now_s = double(i), .tpot_p90_ms = tpot()});
  EXPECT_LT(c.found[0]->value(), 3000);
  EXPECT_LE(tpot(), 50);
  g.update({.now_s = 20, .tpot_p90_ms = 70.0});  // a burst misses the target
  EXPECT_EQ(c.found[0]->value(), 3000);
  const std::vector<Decision> d = g.take_decisions();
  EXPECT_NE(d.back().reason.find("latency target missed"), std::string::npos);
}

TEST(Governor, UnwritableControlsAreLoggedAndLeftAlone) {
  class ReadOnly final : public Control {
   public:
    ReadOnly() : Control({.name = "ro", .description = "", .kind = ControlKind::kPowerLimit, .unit = "W", .min = 1,
                          .max = 10, .original = 10, .writable = false, .why_not = "needs root"}) {}

   protected:
    Status write(double) override { return Status::Ok(); }
  } ro;
  Governor g({.power_cap_w = 5.0}, {&ro});
  const std::vector<Decision> d = g.take_decisions();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_NE(d[0].reason.find("not used: needs root"), std::string::npos);
  g.update({.now_s = 1, .power_w = 9.0});
  EXPECT_EQ(ro.value(), 10);
  EXPECT_FALSE(g.throttle().admit[2]);  // straight to admission
}

}  // namespace
}  // namespace joule::govern
