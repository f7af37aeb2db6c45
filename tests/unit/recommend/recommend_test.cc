// The recommender's constraints, priorities and scenario presets on hand-made summaries.
#include "recommend/recommend.h"

#include <gtest/gtest.h>

namespace joule::recommend {
namespace {

study::CellRow cell(const std::string& precision, double score, std::optional<double> energy_j, double seconds) {
  study::CellRow c;
  c.model = "m", c.precision = precision, c.device = "cpu", c.threads = 2, c.task = "arc", c.repeat = 1;
  c.key = precision;
  c.result.metric = "acc", c.result.score = score, c.result.seconds = seconds, c.result.tokens = 1000;
  c.result.energy_j = energy_j;
  c.result.energy_source = energy_j ? "cpu estimated" : "";
  c.result.items = 10;
  return c;
}

// f32: best accuracy, most energy, slow; int8: 99 % of it, half the energy; int4: 90 %, least
// energy, fastest; f16: energy not measured.
report::Summary summary() {
  return report::summarize({cell("f32", 0.50, 400, 10), cell("int8", 0.495, 200, 6), cell("int4", 0.45, 100, 4),
                            cell("f16", 0.50, std::nullopt, 8)},
                           "f32");
}

std::vector<std::string> names(const report::Summary& s, const std::vector<Candidate>& v) {
  std::vector<std::string> out;
  for (const Candidate& c : v) out.push_back(s.configs[static_cast<size_t>(c.config)].precision);
  return out;
}

TEST(Recommend, RetentionConstraintAndPriorities) {
  const report::Summary s = summary();
  Constraints c;
  c.min_accuracy_retention = 0.98;
  c.priority = Priority::kEnergy;
  Recommendation r = recommend(s, c);
  EXPECT_EQ(names(s, r.ranked), (std::vector<std::string>{"int8", "f32"}));  // least energy first
  ASSERT_EQ(r.rejected.size(), 2u);
  EXPECT_NE(r.rejected[0].why.find("accuracy retention 0.900 < 0.980"), std::string::npos) << r.rejected[0].why;
  EXPECT_NE(r.rejected[1].why.find("energy was not measured"), std::string::npos) << r.rejected[1].why;

  c.priority = Priority::kAccuracy;  // energy not needed: f16 qualifies, ties broken by EOR
  EXPECT_EQ(names(s, recommend(s, c).ranked), (std::vector<std::string>{"f32", "f16", "int8"}));
  c.priority = Priority::kLatency;
  EXPECT_EQ(names(s, recommend(s, c).ranked).front(), "int8");
  c.priority = Priority::kBalanced;  // TWEOR: 0.495/(200/3600*6) beats 0.5/(400/3600*10)
  EXPECT_EQ(names(s, recommend(s, c).ranked), (std::vector<std::string>{"int8", "f32"}));
  EXPECT_NE(recommend(s, c).text(s).find("Recommended: int8 @ cpu/2"), std::string::npos);
}

TEST(Recommend, LatencyAndPowerLimitsAndNoneQualifying) {
  const report::Summary s = summary();
  Constraints c;
  c.max_latency_ms = 5;  // ms per token: f32 10, int8 6, int4 4
  c.priority = Priority::kAccuracy;
  EXPECT_EQ(names(s, recommend(s, c).ranked), (std::vector<std::string>{"int4"}));
  c.max_latency_ms.reset();
  c.max_power_w = 30;  // W: f32 40, int8 33.3, int4 25
  EXPECT_EQ(names(s, recommend(s, c).ranked), (std::vector<std::string>{"int4"}));
  c.min_accuracy_retention = 0.99;
  const Recommendation none = recommend(s, c);
  EXPECT_TRUE(none.ranked.empty());
  EXPECT_NE(none.text(s).find("No measured configuration meets these constraints"), std::string::npos);
}

TEST(Recommend, ScenariosArePresetsThatFlagsOverride) {
  Constraints overrides;
  auto edge = scenario_constraints("edge", overrides, false);
  ASSERT_TRUE(edge.ok());
  EXPECT_DOUBLE_EQ(*edge->max_power_w, 15);
  EXPECT_EQ(edge->priority, Priority::kEnergy);
  overrides.max_power_w = 40;
  overrides.priority = Priority::kLatency;
  auto mine = scenario_constraints("edge", overrides, true);
  ASSERT_TRUE(mine.ok());
  EXPECT_DOUBLE_EQ(*mine->max_power_w, 40);
  EXPECT_EQ(mine->priority, Priority::kLatency);
  EXPECT_DOUBLE_EQ(*mine->min_accuracy_retention, 0.95);
  EXPECT_FALSE(scenario_constraints("moon", overrides, false).ok());
  EXPECT_FALSE(parse_priority("speed").ok());
  for (const Scenario& sc : scenarios()) EXPECT_TRUE(sc.constraints.min_accuracy_retention.has_value()) << sc.name;
}

}  // namespace
}  // namespace joule::recommend
