// RaplSensor on fake powercap trees (JOULE_POWERCAP_ROOT).
#include "energy/rapl.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace joule::energy {
namespace {

namespace fs = std::filesystem;

class RaplTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("joule_rapl_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    setenv("JOULE_POWERCAP_ROOT", root_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("JOULE_POWERCAP_ROOT");
    fs::remove_all(root_);
  }
  void zone(const std::string& dir, const std::string& name, uint64_t uj, uint64_t max_uj) {
    fs::create_directories(root_ / dir);
    std::ofstream(root_ / dir / "name") << name << "\n";
    std::ofstream(root_ / dir / "max_energy_range_uj") << max_uj << "\n";
    set(dir, uj);
  }
  void set(const std::string& dir, uint64_t uj) { std::ofstream(root_ / dir / "energy_uj") << uj << "\n"; }
  fs::path root_;
};

TEST(RaplDelta, UndoesOneWrap) {
  EXPECT_EQ(counter_delta_uj(100, 250, 1000), 150u);
  EXPECT_EQ(counter_delta_uj(900, 50, 1000), 150u);  // 900 -> 1000 -> 0 -> 50
  EXPECT_EQ(counter_delta_uj(5, 5, 1000), 0u);
}

TEST_F(RaplTest, PackagesAndSubzonesWithWraparound) {
  zone("intel-rapl:0", "package-0", 1000, 262143328850);
  zone("intel-rapl:0:0", "dram", 500, 65712999613);
  zone("intel-rapl-mmio:0", "package-0", 7, 262143328850);  // duplicate interface: skipped
  auto s = RaplSensor::open();
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ((*s)->domains().size(), 2u);
  EXPECT_EQ((*s)->domains()[0].name, "package-0");
  EXPECT_EQ((*s)->domains()[1].name, "package-0/dram");
  EXPECT_EQ((*s)->domains()[0].source, Source::kCounter);

  std::vector<Reading> r(2);
  set("intel-rapl:0", 3'001'000);      // +3 J
  set("intel-rapl:0:0", 65712999613);  // +65712.999113 J, up to the wrap point
  ASSERT_TRUE((*s)->read(r).ok());
  EXPECT_NEAR(*r[0].energy_j, 3.0, 1e-9);
  set("intel-rapl:0:0", 1'000'000);  // wrapped: +1 J
  ASSERT_TRUE((*s)->read(r).ok());
  EXPECT_NEAR(*r[1].energy_j, (65712999613.0 - 500) * 1e-6 + 1.0, 1e-6);
}

TEST_F(RaplTest, NoZonesIsNotFound) {
  auto s = RaplSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kNotFound);
}

TEST_F(RaplTest, MissingRootIsExplained) {
  setenv("JOULE_POWERCAP_ROOT", "/nonexistent/powercap", 1);
  auto s = RaplSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("does not exist"), std::string::npos);
}

TEST_F(RaplTest, MalformedCounterIsAFormatError) {
  zone("intel-rapl:0", "package-0", 0, 100);
  std::ofstream(root_ / "intel-rapl:0" / "energy_uj") << "lots\n";
  auto s = RaplSensor::open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), ErrorCode::kFormat);
}

TEST_F(RaplTest, UnreadableCounterExplainsTheFix) {
  zone("intel-rapl:0", "package-0", 0, 100);
  ::chmod((root_ / "intel-rapl:0" / "energy_uj").c_str(), 0600);  // root-only, as on Linux >= 5.10
  auto check = [] {
    auto s = RaplSensor::open();
    return !s.ok() && s.status().code() == ErrorCode::kPermission &&
           s.status().message().find("chmod o+r") != std::string::npos;
  };
  if (geteuid() != 0) {
    EXPECT_TRUE(check());
    return;
  }
  // Root reads any file: check as an unprivileged user in a child process.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    _exit(check() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop privileges here";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the unprivileged open did not report Permission with the fix";
}

TEST_F(RaplTest, TransientReadFailureLeavesAGapNotZero) {
  zone("intel-rapl:0", "package-0", 0, 1000000);
  auto s = RaplSensor::open();
  ASSERT_TRUE(s.ok());
  fs::remove(root_ / "intel-rapl:0" / "energy_uj");
  std::vector<Reading> r(1);
  ASSERT_TRUE((*s)->read(r).ok());
  EXPECT_FALSE(r[0].energy_j.has_value());
}

}  // namespace
}  // namespace joule::energy
