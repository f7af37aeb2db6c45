// NvmlSensor through the real dlopen path, against the fake NVML (tests/fakes/fake_nvml.c).
#include "energy/nvml.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace joule::energy {
namespace {

class NvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("joule_nvml_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    setenv("JOULE_NVML_LIBRARY", JOULE_FAKE_NVML, 1);
  }
  void TearDown() override {
    unsetenv("JOULE_NVML_LIBRARY");
    unsetenv("JOULE_FAKE_NVML_SCRIPT");
    std::filesystem::remove_all(dir_);
  }
  void script(const std::string& text) {
    const auto path = dir_ / "script.txt";
    std::ofstream(path) << text;
    setenv("JOULE_FAKE_NVML_SCRIPT", path.c_str(), 1);
  }
  std::string state() {
    std::ifstream f(dir_ / "state.txt");
    std::string s;
    std::getline(f, s);
    return s;
  }
  std::filesystem::path dir_;
};

TEST_F(NvmlTest, MissingLibraryIsExplained) {
  setenv("JOULE_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  auto s = NvmlSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(s.status().message().find("no NVIDIA driver"), std::string::npos) << s.status().message();
}

TEST_F(NvmlTest, InitFailureCarriesNvmlsMessage) {
  script("init_error 9\n");
  auto s = NvmlSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("Driver Not Loaded"), std::string::npos) << s.status().message();
}

TEST_F(NvmlTest, NoDevices) {
  script("devices 0\n");
  auto s = NvmlSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kNotFound);
}

TEST_F(NvmlTest, CounterEnergyMatchesTheDrawnPower) {
  script("devices 2\nname Fake H100\nstep 0 200\npower_avg_s 1\n");
  auto s = NvmlSensor::open();
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ((*s)->domains().size(), 2u);
  const DomainInfo& d = (*s)->domains()[1];
  EXPECT_EQ(d.name, "gpu1");
  EXPECT_EQ(d.description, "Fake H100");
  EXPECT_EQ(d.source, Source::kCounter);
  EXPECT_TRUE(d.has_energy && d.has_power);
  std::vector<Reading> a(2), b(2);
  ASSERT_TRUE((*s)->read(a).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE((*s)->read(b).ok());
  ASSERT_TRUE(a[0].energy_j && b[0].energy_j);
  EXPECT_LT(*a[0].energy_j, 2.0);  // starts near 0: the counter's value at open is subtracted
  const double de = *b[0].energy_j - *a[0].energy_j;
  EXPECT_GT(de, 200 * 0.19);
  EXPECT_LT(de, 200 * 0.5);
  EXPECT_NEAR(*b[0].power_w, 200, 1);
  EXPECT_TRUE(b[0].temp_c && b[0].sm_clock_mhz && b[0].mem_clock_mhz && b[0].util_pct);
  ASSERT_TRUE(b[0].clock_event_reasons.has_value());
}

TEST_F(NvmlTest, NoEnergyCounterFallsBackToSampledPower) {
  script("energy unsupported\nstep 0 50\n");
  auto s = NvmlSensor::open();
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE((*s)->domains()[0].has_energy);
  EXPECT_EQ((*s)->domains()[0].source, Source::kSampled);
  std::vector<Reading> r(1);
  ASSERT_TRUE((*s)->read(r).ok());
  EXPECT_FALSE(r[0].energy_j.has_value());
  EXPECT_NEAR(*r[0].power_w, 50, 0.5);
}

TEST_F(NvmlTest, PowerErrorLeavesPowerEmpty) {
  script("power error 999\nstep 0 50\n");
  auto s = NvmlSensor::open();
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->domains()[0].has_power);
  std::vector<Reading> r(1);
  ASSERT_TRUE((*s)->read(r).ok());
  EXPECT_FALSE(r[0].power_w.has_value());
  EXPECT_TRUE(r[0].energy_j.has_value());
}

TEST_F(NvmlTest, PowerLimitIsSetOnlyInRangeAndRestored) {
  script("limit 300 100 400 350\nstate_file " + (dir_ / "state.txt").string() + "\n");
  {
    auto s = NvmlSensor::open();
    ASSERT_TRUE(s.ok());
    auto lim = (*s)->power_limits(0);
    ASSERT_TRUE(lim.ok());
    EXPECT_DOUBLE_EQ(lim->current_w, 300);
    EXPECT_DOUBLE_EQ(lim->default_w, 350);
    EXPECT_DOUBLE_EQ(lim->min_w, 100);
    EXPECT_DOUBLE_EQ(lim->max_w, 400);
    EXPECT_EQ((*s)->power_limits(3).status().code(), ErrorCode::kInvalidArgument);
    if (geteuid() != 0) {
      EXPECT_EQ((*s)->set_power_limit(0, 200).code(), ErrorCode::kPermission);
      GTEST_SKIP() << "not root: setting limits is refused, as it should be";
    }
    EXPECT_EQ((*s)->set_power_limit(0, 50).code(), ErrorCode::kInvalidArgument);
    ASSERT_TRUE((*s)->set_power_limit(0, 200).ok());
    ASSERT_TRUE((*s)->set_power_limit(0, 150).ok());  // the first saved value is what comes back
    ASSERT_TRUE((*s)->lock_clocks(0, 1000, 1500).ok());
    EXPECT_EQ(state(), "limit_mw=150000 locked=1000-1500");
  }  // the destructor restores
  EXPECT_EQ(state(), "limit_mw=300000 locked=none");
}

TEST(NvmlNames, ClockEventReasons) {
  EXPECT_EQ(clock_event_names(0), "");
  EXPECT_EQ(clock_event_names(kNvmlClockEventSwPowerCap | kNvmlClockEventHwThermal), "sw_power_cap,hw_thermal");
}

}  // namespace
}  // namespace joule::energy
