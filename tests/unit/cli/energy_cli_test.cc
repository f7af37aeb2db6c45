// End-to-end energy reporting of the joule binary, with the fake NVML and a fake powercap tree
// standing in for hardware where the test asks for them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "../model/tiny_model.h"
#include "run_command.h"

namespace joule {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;  // stdout only
};

// Runs joule with extra environment; stderr goes to stderr_path (if given) or /dev/null.
Result run_joule(const std::string& env, const std::string& args, const std::string& stderr_path = "") {
  const testing::CommandResult r = testing::run_command(
      env + " " + JOULE_BINARY + " " + args + " 2>" + (stderr_path.empty() ? "/dev/null" : stderr_path));
  return {r.exit_code, r.output};
}

std::string temp(const std::string& name) { return testing::temp_path(name); }

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// No hardware: only the estimate.
const std::string kNoHardware = "JOULE_NVML_LIBRARY=/nonexistent JOULE_POWERCAP_ROOT=/nonexistent";

TEST(EnergyCli, RunReportsEstimatedEnergyPerPhase) {
  const std::string tiny = temp("energy_tiny.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string trace = temp("energy_trace.csv");
  const Result r = run_joule(kNoHardware, "run -m " + tiny + " -p hello -n 8 --temp 0 --json --sample-hz 50 --trace " + trace);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& e = j.at("energy");
  ASSERT_EQ(e.at("domains").size(), 1u);
  EXPECT_EQ(e["domains"][0]["source"], "estimated");
  EXPECT_EQ(e.at("missing").size(), 2u);
  ASSERT_EQ(e.at("windows").size(), 3u);
  for (const auto& w : e["windows"]) {
    const auto& d = w.at("domains").at(0);
    EXPECT_EQ(d.at("source"), "estimated");
    ASSERT_TRUE(d.at("energy_j").is_number()) << w.dump();
    EXPECT_GT(d["energy_j"].get<double>(), 0);
    EXPECT_TRUE(d.contains("j_per_token"));
  }
  EXPECT_EQ(e["windows"][0]["window"], "prefill");
  EXPECT_EQ(slurp(trace).rfind("t_s,domain,source,energy_j", 0), 0u);
}

TEST(EnergyCli, BenchReportsCounterEnergyFromTheFakeGpu) {
  const std::string tiny = temp("energy_tiny2.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string script = temp("energy_nvml_script.txt");
  std::ofstream(script) << "name Fake H100\nstep 0 250\n";
  const Result r = run_joule(std::string("JOULE_NVML_LIBRARY=") + JOULE_FAKE_NVML + " JOULE_FAKE_NVML_SCRIPT=" + script +
                                 " JOULE_POWERCAP_ROOT=/nonexistent",
                             "bench -m " + tiny + " -p 32 -n 0 -t 1 -r 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  const auto& gpu = j.at("results").at(0).at("energy").at("gpu0");
  EXPECT_EQ(gpu.at("source"), "counter");
  // The fake GPU draws 250 W; the counter difference over each repetition says so.
  EXPECT_NEAR(gpu.at("avg_power_w").get<double>(), 250, 25);
  EXPECT_EQ(j.at("results").at(0).at("energy").at("cpu").at("source"), "estimated");
}

TEST(EnergyCli, PowerPrintsRowsForEveryDomain) {
  const std::string script = temp("energy_nvml_script2.txt");
  std::ofstream(script) << "devices 2\nstep 0 100\n";
  const Result r = run_joule(std::string("JOULE_NVML_LIBRARY=") + JOULE_FAKE_NVML + " JOULE_FAKE_NVML_SCRIPT=" + script +
                                 " JOULE_POWERCAP_ROOT=/nonexistent",
                             "power --interval-ms 100 --duration 0.3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  int rows = 0;
  std::string line;
  std::istringstream in(r.out);
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j.at("domains").size(), 3u);  // gpu0, gpu1, cpu
    EXPECT_NEAR(j["domains"][1].at("power_w").get<double>(), 100, 10);
    ++rows;
  }
  EXPECT_GE(rows, 2);
  EXPECT_LE(rows, 4);
}

TEST(EnergyCli, GpuLimitsAreRestoredAfterTheRun) {
  if (geteuid() != 0) GTEST_SKIP() << "setting GPU limits needs root";
  const std::string tiny = temp("energy_tiny4.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string script = temp("energy_nvml_script3.txt"), state = temp("energy_nvml_state.txt");
  std::ofstream(script) << "limit 300 100 400 350\nstate_file " << state << "\n";
  const std::string env = std::string("JOULE_NVML_LIBRARY=") + JOULE_FAKE_NVML + " JOULE_FAKE_NVML_SCRIPT=" + script +
                          " JOULE_POWERCAP_ROOT=/nonexistent";
  const Result r = run_joule(env, "bench -m " + tiny + " -p 8 -n 0 -t 1 -r 1 --gpu-power-limit 200 --gpu-clocks 1000:1500");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(slurp(state), "limit_mw=300000 locked=none\n");
  const std::string err = temp("energy_err2.txt");
  EXPECT_EQ(run_joule(env, "bench -m " + tiny + " -p 8 -n 0 -r 1 --gpu-power-limit 999", err).exit_code, 2);
  EXPECT_NE(slurp(err).find("outside"), std::string::npos) << slurp(err);
  EXPECT_EQ(run_joule(env, "bench -m " + tiny + " -p 8 -n 0 -r 1 --gpu-clocks 1500", err).exit_code, 2);
  EXPECT_NE(slurp(err).find("MIN:MAX"), std::string::npos) << slurp(err);
}

TEST(EnergyCli, GpuLimitIsRestoredOnCtrlC) {
  if (geteuid() != 0) GTEST_SKIP() << "setting GPU limits needs root";
  const std::string tiny = temp("energy_tiny5.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string script = temp("energy_nvml_script4.txt"), state = temp("energy_nvml_state2.txt");
  std::ofstream(script) << "limit 300 100 400 350\nstate_file " << state << "\n";
  // A long benchmark, interrupted once the limit is set.
  const std::string cmd = std::string("JOULE_NVML_LIBRARY=") + JOULE_FAKE_NVML + " JOULE_FAKE_NVML_SCRIPT=" + script +
                          " JOULE_POWERCAP_ROOT=/nonexistent " + JOULE_BINARY + " bench -m " + tiny +
                          " -p 64 -n 0 -t 1 -r 100000 --gpu-power-limit 150 >/dev/null 2>&1 & pid=$!; "
                          "for i in $(seq 100); do grep -q 150000 " + state + " 2>/dev/null && break; sleep 0.05; done; "
                          "kill -INT $pid; wait $pid; echo $? > " + state + ".rc";
  ASSERT_EQ(std::system(("bash -c '" + cmd + "'").c_str()), 0);
  EXPECT_EQ(slurp(state), "limit_mw=300000 locked=none\n");
  EXPECT_EQ(slurp(state + ".rc"), "130\n");  // died of SIGINT after restoring, as a shell reports it
}

TEST(EnergyCli, InfoListsSensorsAndWhyOthersAreMissing) {
  const Result r = run_joule(kNoHardware, "info --json");
  ASSERT_EQ(r.exit_code, 0);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("sensors").at("domains").at(0).at("source"), "estimated");
  EXPECT_NE(j["sensors"]["missing"][0].get<std::string>().find("NVML"), std::string::npos);
}

TEST(EnergyCli, BadEnergyFlagsAreClearErrors) {
  const std::string tiny = temp("energy_tiny3.gguf");
  testing::write_tiny_model(tiny, {});
  const std::string err = temp("energy_err.txt");
  EXPECT_EQ(run_joule(kNoHardware, "run -m " + tiny + " -p x --sample-hz 0", err).exit_code, 2);
  EXPECT_NE(slurp(err).find("--sample-hz"), std::string::npos) << slurp(err);
  EXPECT_EQ(run_joule(kNoHardware, "run -m " + tiny + " -p x --gpu-power-limit 200", err).exit_code, 1);
  EXPECT_NE(slurp(err).find("needs an NVIDIA GPU"), std::string::npos) << slurp(err);
  EXPECT_EQ(run_joule(kNoHardware, "run -m " + tiny + " -p x --no-energy --trace t.csv", err).exit_code, 2);
  EXPECT_EQ(run_joule(kNoHardware, "run -m " + tiny + " -p x -n 2 --trace /nonexistent/dir/t.jsonl", err).exit_code, 1);
  EXPECT_NE(slurp(err).find("cannot write the trace"), std::string::npos) << slurp(err);
  EXPECT_EQ(run_joule(kNoHardware, "power --interval-ms 1", err).exit_code, 2);
}

}  // namespace
}  // namespace joule
