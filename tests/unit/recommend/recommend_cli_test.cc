// joule recommend end to end on a results database written here: the exit status says whether
// anything qualified, and the explanation is printed either way (text and JSON).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "../cli/run_command.h"
#include "study/results_db.h"

namespace joule {
namespace {

using Result = testing::CommandResult;

// stdout only: the answer must be there even when the exit status is 1.
Result joule(const std::string& args) { return testing::run_command(std::string(JOULE_BINARY) + " " + args + " 2>/dev/null"); }

// f32 and int8 of one model on one task, energy from the CPU estimate: 40 W and 33.3 W.
std::string make_db() {
  const std::string path = testing::temp_path("recommend_cli.db");
  std::filesystem::remove(path);
  auto db = study::ResultsDb::open(path);
  EXPECT_TRUE(db.ok()) << db.status().message();
  for (auto [precision, score, energy_j, seconds] :
       {std::tuple{"f32", 0.50, 400.0, 10.0}, std::tuple{"int8", 0.495, 200.0, 6.0}}) {
    study::Cell c;
    c.model = {"m", "m.gguf"}, c.precision = precision, c.device = "cpu", c.threads = 2, c.repeat = 1;
    c.task.name = "arc_easy";
    study::CellResult r;
    r.items = 10, r.metric = "acc", r.score = score, r.seconds = seconds, r.tokens = 1000;
    r.energy_j = energy_j, r.energy_source = "cpu estimated", r.avg_power_w = energy_j / seconds;
    EXPECT_TRUE((*db)->add_cell("s", c, r).ok());
  }
  return path;
}

TEST(RecommendCli, ExitStatusSaysWhetherAnyConfigurationQualifies) {
  const std::string db = make_db();
  Result r = joule("recommend " + db + " --max-power-w 35");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Recommended: int8 @ cpu/2 (m)"), std::string::npos) << r.output;

  r = joule("recommend " + db + " --max-power-w 10");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("No measured configuration meets these constraints."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Nearest: relaxing --max-power-w from 10.0 W to 33.4 W (+233.3 %) would admit int8 @ cpu/2 (m)"),
            std::string::npos) << r.output;

  r = joule("recommend " + db + " --max-power-w 10 --json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["any_qualifies"], false);
  EXPECT_EQ(j["rejected"][1]["failed"][0]["estimated"], true);
  EXPECT_EQ(j["nearest_relaxation"]["precision"], "int8");

  EXPECT_EQ(joule("recommend " + db + " --priority speed").exit_code, 2);  // a usage error stays 2
  r = joule("recommend --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Exit status: 0 when at least one configuration qualifies; 1 when none does"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace joule
