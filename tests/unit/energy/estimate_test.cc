// The CPU estimate: its model parameters, and that it follows this process's CPU work.
#include "energy/estimate.h"

#include <gtest/gtest.h>

#include <ctime>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/clock.h"

namespace joule::energy {
namespace {

TEST(EstimateModel, TableFlagsAndDefaults) {
  auto m = make_estimate_model({}, "Intel(R) Xeon(R) Platinum 8480+", 4);
  ASSERT_TRUE(m.ok());
  EXPECT_NEAR(m->w_per_core, 350.0 / 56, 1e-9);
  EXPECT_NE(m->basis.find("TDP table"), std::string::npos);
  EXPECT_DOUBLE_EQ(m->idle_fraction, kDefaultIdleFraction);

  m = make_estimate_model({}, "Intel(R) Xeon(R) Processor", 2);
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->w_per_core, kDefaultWPerCore);
  EXPECT_NE(m->describe().find("not in the TDP table"), std::string::npos);

  m = make_estimate_model({.w_per_core = 7.5, .idle_fraction = 0.1}, "anything", 2);
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->w_per_core, 7.5);
  EXPECT_DOUBLE_EQ(m->idle_fraction, 0.1);
  EXPECT_NE(m->describe().find("--cpu-w-per-core"), std::string::npos);

  EXPECT_FALSE(make_estimate_model({.w_per_core = -1}, "x", 2).ok());
  EXPECT_FALSE(make_estimate_model({.idle_fraction = 1.5}, "x", 2).ok());
  EXPECT_FALSE(make_estimate_model({}, "x", 0).ok());
}

// Energy over a window of `seconds` while busy-looping or sleeping.
// Energy the estimate reports over a window of `seconds`, spinning or sleeping; *cpu_s gets the
// process CPU time the window used (on a loaded machine a spinning thread gets less than the
// wall time).
double window_energy(CpuEstimateSensor& s, double seconds, bool busy, double* cpu_s = nullptr) {
  std::vector<Reading> a(1), b(1);
  const std::clock_t c0 = std::clock();
  EXPECT_TRUE(s.read(a).ok());
  const double end = monotonic_seconds() + seconds;
  if (busy) {
    volatile double x = 1;
    while (monotonic_seconds() < end) x = x * 1.0000001 + 1e-9;
  } else {
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  }
  EXPECT_TRUE(s.read(b).ok());
  if (cpu_s) *cpu_s = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  EXPECT_EQ(s.domains()[0].source, Source::kEstimated);
  return *b[0].energy_j - *a[0].energy_j;
}

TEST(CpuEstimate, GrowsWithCpuWorkAndStaysNearIdleWhenSleeping) {
  auto m = make_estimate_model({.w_per_core = 10, .idle_fraction = 0.3}, "x", 2);
  ASSERT_TRUE(m.ok());
  CpuEstimateSensor s(*m);
  const double idle_w = 10 * 0.3 * 2;  // 6 W for the two cores
  const double sleeping = window_energy(s, 0.2, false);
  double busy_cpu_s = 0;
  const double busy = window_energy(s, 0.2, true, &busy_cpu_s);
  // Sleeping: the idle share only (plus a little CPU time for the calls themselves).
  EXPECT_NEAR(sleeping, idle_w * 0.2, 0.05);
  // Busy: the idle share plus (1 - 0.3) * 10 W = 7 W per second of CPU the spin really got
  // (all of the window on an idle machine, less when other work shares the cores).
  ASSERT_GT(busy_cpu_s, 0.02) << "the spinning thread got almost no CPU";
  EXPECT_NEAR(busy, idle_w * 0.2 + 7 * busy_cpu_s, 0.05 + 0.1 * 7 * busy_cpu_s);
}

TEST(Detection, FindsFakesAndExplainsWhatIsMissing) {
  setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  setenv("JOULE_POWERCAP_ROOT", "/nonexistent/powercap", 1);
  Detection d = detect_sensors({});
  ASSERT_EQ(d.sensors.size(), 1u);  // only the estimate
  EXPECT_EQ(d.sensors[0]->domains()[0].source, Source::kEstimated);
  ASSERT_EQ(d.missing.size(), 2u);
  EXPECT_EQ(d.missing[0].rfind("NVML", 0), 0u);
  EXPECT_EQ(d.missing[1].rfind("RAPL", 0), 0u);

  setenv("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML, 1);
  d = detect_sensors({});
  ASSERT_EQ(d.sensors.size(), 2u);
  EXPECT_EQ(d.sensors[0]->domains()[0].name, "gpu0");
  unsetenv("JOULE_NVML_LIBRARY");
  unsetenv("JOULE_POWERCAP_ROOT");
}

}  // namespace
}  // namespace joule::energy
