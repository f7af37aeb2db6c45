// The recommender's constraints, priorities, scenario presets, nearest relaxation and JSON on
// hand-made summaries.
#include "recommend/recommend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace joule::recommend {
namespace {

study::CellRow cell(const std::string& precision, double score, std::optional<double> energy_j, double seconds,
                    const std::string& source = "cpu estimated") {
  study::CellRow c;
  c.model = "m", c.precision = precision, c.device = "cpu", c.threads = 2, c.task = "arc", c.repeat = 1;
  c.key = precision;
  c.result.metric = "acc", c.result.score = score, c.result.seconds = seconds, c.result.tokens = 1000;
  c.result.energy_j = energy_j;
  c.result.energy_source = energy_j ? source : "";
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

// A configuration that ran fewer tasks spent less energy because it did less: never ranked
// against the others, whatever the priority, and no relaxation of a limit admits it.
TEST(Recommend, AConfigurationWithFewerTasksIsNotRanked) {
  std::vector<study::CellRow> cells = {cell("f32", 0.50, 400, 10), cell("int8", 0.49, 200, 6)};
  study::CellRow gsm = cell("f32", 0.20, 300, 10);
  gsm.task = "gsm8k", gsm.key = "f32-gsm8k";
  cells.push_back(gsm);  // int8 ran arc only
  const report::Summary s = report::summarize(cells, "f32");
  for (Priority p : {Priority::kAccuracy, Priority::kEnergy, Priority::kLatency, Priority::kBalanced}) {
    Constraints c;
    c.priority = p;
    const Recommendation r = recommend(s, c);
    EXPECT_EQ(names(s, r.ranked), std::vector<std::string>{"f32"});
    ASSERT_EQ(r.rejected.size(), 1u);
    EXPECT_EQ(r.rejected[0].failures[0].limit, Limit::kAllTasks);
    EXPECT_NE(r.rejected[0].why.find("it ran arc but not gsm8k"), std::string::npos) << r.rejected[0].why;
  }
  Constraints strict;
  strict.max_power_w = 1;  // nothing qualifies: the nearest relaxation is f32's, never int8's
  const Recommendation r = recommend(s, strict);
  ASSERT_TRUE(r.nearest.has_value());
  EXPECT_EQ(s.configs[static_cast<size_t>(r.nearest->config)].precision, "f32");
  EXPECT_EQ(recommend(s, strict).json(s)["rejected"][1]["failed"][1]["constraint"], "all_tasks");
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

TEST(Recommend, EnergySourceKindIsTheWeakestPart) {
  EXPECT_EQ(energy_source_kind("cpu estimated"), "estimated");
  EXPECT_EQ(energy_source_kind("package-0 counter, package-0/dram counter"), "counter");
  EXPECT_EQ(energy_source_kind("gpu0 sampled"), "sampled");
  EXPECT_EQ(energy_source_kind("gpu0 counter, gpu1 sampled"), "sampled");
  EXPECT_EQ(energy_source_kind("mixed: cpu estimated | package-0 counter"), "estimated");
  EXPECT_EQ(energy_source_kind(""), "");
}

TEST(Recommend, APowerLimitFailedOnAnEstimateSaysSo) {
  Constraints c;
  c.max_power_w = 30;  // int8 33.3 W, f32 40 W
  c.max_latency_ms = 8;  // f32 fails this too: 10 ms/token, measured
  const report::Summary estimated = summary();
  const Recommendation r = recommend(estimated, c);
  ASSERT_EQ(names(estimated, r.rejected), (std::vector<std::string>{"f32", "int8", "f16"}));
  const Candidate& f32 = r.rejected[0];
  ASSERT_EQ(f32.failures.size(), 2u);  // every failed constraint, not only the first
  EXPECT_EQ(f32.failures[0].limit, Limit::kMaxLatencyMs);
  EXPECT_FALSE(f32.failures[0].estimated);  // latency is timed, never estimated
  EXPECT_EQ(f32.failures[1].limit, Limit::kMaxPowerW);
  EXPECT_TRUE(f32.failures[1].estimated);
  EXPECT_NE(f32.why.find("average power 40.0 W > 30.0 W (estimated, not measured: energy source cpu estimated)"),
            std::string::npos) << f32.why;
  EXPECT_NE(r.text(estimated).find("left out: int8 @ cpu/2 (m): average power 33.3 W > 30.0 W (estimated, not measured"),
            std::string::npos) << r.text(estimated);

  // The same numbers from a RAPL counter: no note.
  const report::Summary counted = report::summarize(
      {cell("f32", 0.50, 400, 10, "package-0 counter"), cell("int8", 0.495, 200, 6, "package-0 counter")}, "f32");
  const Recommendation m = recommend(counted, c);
  ASSERT_EQ(m.rejected.size(), 2u);
  EXPECT_FALSE(m.rejected[1].failures[0].estimated);
  EXPECT_EQ(m.rejected[1].why, "average power 33.3 W > 30.0 W");
}

TEST(Recommend, NearestRelaxationPrefersFewestConstraintsThenTheSmallestChange) {
  auto failure = [](Limit l, std::optional<double> value, double threshold) {
    return Failure{l, value, threshold, false, "x"};
  };
  auto rejected = [](int config, std::vector<Failure> f) { return Candidate{config, false, "x", std::move(f), false, -1, ""}; };
  const std::vector<Candidate> v = {
      rejected(0, {failure(Limit::kMaxPowerW, 11, 10), failure(Limit::kMaxLatencyMs, 10.1, 10)}),  // 10 % + 1 %
      rejected(1, {failure(Limit::kMaxPowerW, 13, 10)}),                                           // 30 %
      rejected(2, {failure(Limit::kMaxPowerW, std::nullopt, 10)}),                                 // not measured
      rejected(3, {failure(Limit::kMinAccuracyRetention, 0.9, 0.98)}),                             // 8.2 %
      rejected(4, {failure(Limit::kMaxLatencyMs, 11, 10)}),                                        // 10 %
  };
  const std::optional<Relaxation> r = nearest_relaxation(v);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->config, 3);
  EXPECT_NEAR(r->fraction, 0.08 / 0.98, 1e-12);
  EXPECT_EQ(nearest_relaxation({v[0], v[1]})->config, 1);  // one constraint beats two, even if larger
  EXPECT_NEAR(nearest_relaxation({v[0]})->fraction, 0.11, 1e-12);
  EXPECT_FALSE(nearest_relaxation({v[2]}).has_value());  // a missing measurement cannot be relaxed away
  EXPECT_FALSE(nearest_relaxation({}).has_value());
}

TEST(Recommend, WhenNoneQualifiesTheNearestRelaxationIsShownRoundedToAdmit) {
  const report::Summary s = summary();
  Constraints c;
  c.min_accuracy_retention = 0.98;  // int4 fails this (0.900) and power
  c.max_power_w = 20;               // f32 40 W (+100 %), int8 33.33 W (+66.7 %), int4 25 W
  c.priority = Priority::kEnergy;
  const Recommendation r = recommend(s, c);
  ASSERT_TRUE(r.ranked.empty());
  ASSERT_TRUE(r.nearest.has_value());
  EXPECT_EQ(s.configs[static_cast<size_t>(r.nearest->config)].precision, "int8");
  ASSERT_EQ(r.nearest->changes.size(), 1u);
  EXPECT_NEAR(*r.nearest->changes[0].value, 200.0 / 6, 1e-9);
  // 33.33 W prints as 33.4 W, so the printed suggestion really admits it.
  const std::string text = r.text(s);
  EXPECT_NE(text.find("Nearest: relaxing --max-power-w from 20.0 W to 33.4 W (+66.7 %) would admit int8 @ cpu/2 (m); "
                      "its average power is estimated, not measured (energy source cpu estimated).\n"),
            std::string::npos) << text;

  c.max_power_w = 50;  // only retention now: int4 needs --min-accuracy-retention 0.900
  const Recommendation q = recommend(s, c);
  EXPECT_FALSE(q.ranked.empty());
  EXPECT_FALSE(q.nearest.has_value());  // only asked for when none qualifies
  c.min_accuracy_retention = 0.9999;  // only f32 (1.000) needs just power; f16 cannot be relaxed in (no energy)
  c.max_power_w = 1;
  EXPECT_NE(recommend(s, c).text(s).find("relaxing --max-power-w from 1.0 W to 40.0 W"), std::string::npos);
}

// 200 items of one task; f32 answers items 0..99 right. The others differ from it on a few items:
// f16 on two (one each way), bf16 on one (lost), int8 on two (both lost), int4 on twenty (lost).
report::Summary summary_with_items() {
  auto with_items = [](study::CellRow c, const std::vector<int>& flipped) {
    for (int i = 0; i < 200; ++i) {
      const bool right = (i < 100) != (std::find(flipped.begin(), flipped.end(), i) != flipped.end());
      c.result.item_outcomes.push_back({std::to_string(i), right ? 1.0 : 0.0, "", 0, std::nullopt, std::nullopt});
    }
    c.result.items = 200;
    return c;
  };
  std::vector<int> twenty;
  for (int i = 0; i < 20; ++i) twenty.push_back(i);
  return report::summarize({with_items(cell("f32", 0.50, 400, 10), {}), with_items(cell("f16", 0.50, 300, 10), {0, 150}),
                            with_items(cell("bf16", 0.495, 150, 10), {5}), with_items(cell("int8", 0.49, 200, 6), {0, 1}),
                            with_items(cell("int4", 0.40, 100, 4), twenty)},
                           "f32");
}

TEST(Recommend, RetentionIsJudgedOnItsIntervalAndIndistinguishableAccuraciesFallBackToEnergy) {
  const report::Summary s = summary_with_items();
  Constraints c;
  c.min_accuracy_retention = 0.97;
  c.priority = Priority::kAccuracy;
  const Recommendation r = recommend(s, c);
  // int8's 2 lost items: difference -1 pt, SE 100 sqrt(1.98 / 199 / 200) pts, so retention
  // 0.980 with an interval 0.952 to 1.008 around it: straddles 0.97.
  ASSERT_EQ(names(s, r.undecided), (std::vector<std::string>{"int8"}));
  const double se_pts = 100 * std::sqrt(1.98 / 199 / 200), z = 1.959963984540054;
  EXPECT_EQ(r.undecided[0].items_to_decide, int(std::ceil(200 * std::pow(z * se_pts / 0.5, 2))));
  EXPECT_NE(r.undecided[0].why.find("accuracy retention 0.980 (95 % interval 0.952 to 1.008) straddles 0.970: evaluate "
                                    "more items (about " + std::to_string(r.undecided[0].items_to_decide) +
                                    " paired items in all would decide it at the observed flip rate; 200 now)"),
            std::string::npos)
      << r.undecided[0].why;
  // int4's interval lies wholly below: rejected, and relaxing to its lower end would admit it.
  ASSERT_EQ(names(s, r.rejected), (std::vector<std::string>{"int4"}));
  EXPECT_NE(r.rejected[0].why.find("accuracy retention 0.800 (95 % interval 0.717 to 0.883) lies below 0.970"),
            std::string::npos)
      << r.rejected[0].why;
  EXPECT_NEAR(*r.rejected[0].failures[0].value, *s.comparisons[4].retention_low(), 1e-15);
  // f32, f16 and bf16 meet. The most accurate is f16 (f32's 0.50 with a better EOR); neither f32's
  // nor bf16's accuracy can be told from it, so energy orders the three.
  EXPECT_EQ(names(s, r.ranked), (std::vector<std::string>{"bf16", "f16", "f32"}));
  EXPECT_NE(r.ranked[0].tie_note.find("accuracy indistinguishable from f16 @ cpu/2's (-0.50 pts, 95 % interval -2.20 to "
                                      "+1.20 on 200 paired items), so less energy ranks it first"),
            std::string::npos)
      << r.ranked[0].tie_note;
  EXPECT_TRUE(r.ranked[1].tie_note.empty());
  const std::string text = r.text(s);
  EXPECT_NE(text.find("  undecided: int8 @ cpu/2 (m): accuracy retention 0.980"), std::string::npos) << text;
  EXPECT_NE(r.verdict(s).find("bf16 @ cpu/2 (m): accuracy 49.50 %, -0.50 ± 0.98 pts vs f32 (not distinguishable from 0)"),
            std::string::npos)
      << r.verdict(s);
  const nlohmann::json j = r.json(s);
  EXPECT_EQ(j["undecided"][0]["items_to_decide"], r.undecided[0].items_to_decide);
  EXPECT_NEAR(j["undecided"][0]["accuracy_retention_interval"][0].get<double>(), *s.comparisons[3].retention_low(), 1e-15);

  // Wider limits decide int8; at 0.99 nothing but f32 itself is above its interval's lower end.
  c.min_accuracy_retention = 0.95;
  EXPECT_TRUE(recommend(s, c).undecided.empty());
  c.min_accuracy_retention = 0.99;
  EXPECT_EQ(names(s, recommend(s, c).ranked), (std::vector<std::string>{"f32"}));
  // A configuration a clear distance below the top is not a tie: accuracy decides.
  c.min_accuracy_retention = 0.5;
  EXPECT_EQ(names(s, recommend(s, c).ranked).back(), "int4");
}

TEST(Recommend, EveryScenarioHasAVerdict) {
  const auto v = scenario_verdicts(summary_with_items());
  ASSERT_EQ(v.size(), scenarios().size());
  EXPECT_EQ(v[0].first.rfind("datacenter (", 0), 0u);
  for (const auto& [scenario, sentence] : v) EXPECT_EQ(sentence.back(), '.') << sentence;
}

TEST(Recommend, JsonHasTheNumbersBehindEveryDecision) {
  const report::Summary s = summary();
  Constraints c;
  c.min_accuracy_retention = 0.98;
  c.max_power_w = 20;
  c.priority = Priority::kEnergy;
  const nlohmann::json j = recommend(s, c).json(s);
  EXPECT_EQ(j["any_qualifies"], false);
  EXPECT_EQ(j["constraints"]["max_power_w"], 20.0);
  EXPECT_TRUE(j["constraints"]["max_latency_ms"].is_null());
  EXPECT_EQ(j["recommended"].size(), 0u);
  ASSERT_EQ(j["rejected"].size(), 4u);

  const nlohmann::json& int4 = j["rejected"][2];
  EXPECT_EQ(int4["name"], "int4 @ cpu/2");
  EXPECT_EQ(int4["model"], "m");
  EXPECT_EQ(int4["precision"], "int4");
  EXPECT_EQ(int4["device"], "cpu");
  EXPECT_EQ(int4["threads"], 2);
  EXPECT_DOUBLE_EQ(int4["accuracy"].get<double>(), 0.45);
  EXPECT_NEAR(int4["accuracy_retention"].get<double>(), 0.9, 1e-12);
  EXPECT_DOUBLE_EQ(int4["j_per_token"].get<double>(), 0.1);  // 100 J / 1000 tokens
  EXPECT_DOUBLE_EQ(int4["avg_power_w"].get<double>(), 25);
  EXPECT_NEAR(int4["ms_per_token"].get<double>(), 4, 1e-9);
  EXPECT_EQ(int4["energy_source"], "cpu estimated");
  EXPECT_EQ(int4["energy_source_kind"], "estimated");
  ASSERT_EQ(int4["failed"].size(), 2u);
  const nlohmann::json& retention = int4["failed"][0];
  EXPECT_EQ(retention["constraint"], "min_accuracy_retention");
  EXPECT_NEAR(retention["value"].get<double>(), 0.9, 1e-12);
  EXPECT_DOUBLE_EQ(retention["limit"].get<double>(), 0.98);
  EXPECT_NEAR(retention["off_by"].get<double>(), 0.08, 1e-12);
  EXPECT_NEAR(retention["off_by_fraction"].get<double>(), 0.08 / 0.98, 1e-12);
  EXPECT_EQ(retention["estimated"], false);
  const nlohmann::json& power = int4["failed"][1];
  EXPECT_EQ(power["constraint"], "max_power_w");
  EXPECT_DOUBLE_EQ(power["off_by"].get<double>(), 5);
  EXPECT_DOUBLE_EQ(power["off_by_fraction"].get<double>(), 0.25);
  EXPECT_EQ(power["estimated"], true);
  EXPECT_NE(int4["why"].get<std::string>().find("accuracy retention 0.900 < 0.980 (no item outcomes: judged on the point estimate); "
                                                "average power 25.0 W > 20.0 W"),
            std::string::npos);

  const nlohmann::json& f16 = j["rejected"][3];  // nothing measured its energy: null, never 0
  EXPECT_TRUE(f16["j_per_token"].is_null());
  EXPECT_TRUE(f16["avg_power_w"].is_null());
  EXPECT_EQ(f16["energy_source_kind"], "");
  EXPECT_TRUE(f16["failed"][0]["value"].is_null());
  EXPECT_TRUE(f16["failed"][0]["off_by"].is_null());

  const nlohmann::json& nearest = j["nearest_relaxation"];
  EXPECT_EQ(nearest["precision"], "int8");
  ASSERT_EQ(nearest["changes"].size(), 1u);
  EXPECT_EQ(nearest["changes"][0]["flag"], "--max-power-w");
  EXPECT_DOUBLE_EQ(nearest["changes"][0]["from"].get<double>(), 20);
  EXPECT_NEAR(nearest["changes"][0]["to"].get<double>(), 200.0 / 6, 1e-9);
  EXPECT_EQ(nearest["changes"][0]["estimated"], true);

  c.max_power_w.reset();  // int8 and f32 qualify: they carry their numbers too, and no relaxation
  const nlohmann::json ok = recommend(s, c).json(s);
  EXPECT_EQ(ok["any_qualifies"], true);
  EXPECT_EQ(ok["recommended"][0]["precision"], "int8");
  EXPECT_EQ(ok["recommended"][0]["failed"].size(), 0u);
  EXPECT_NEAR(ok["recommended"][0]["ms_per_token"].get<double>(), 6, 1e-9);
  EXPECT_TRUE(ok["nearest_relaxation"].is_null());
}

}  // namespace
}  // namespace joule::recommend
