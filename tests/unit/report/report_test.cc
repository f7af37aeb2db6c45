// Report figures against hand computations, the Pareto front, and the renderers' shapes.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "report/html.h"
#include "report/summary.h"
#include "report/tables.h"

namespace joule::report {
namespace {

study::CellRow cell(const std::string& precision, const std::string& task, int repeat, double score,
                    std::optional<double> energy_j, double seconds = 10, const std::string& source = "cpu estimated") {
  study::CellRow c;
  c.study = "s";
  c.model = "smol";
  c.precision = precision;
  c.device = "cpu";
  c.threads = 2;
  c.task = task;
  c.repeat = repeat;
  c.key = precision + task + std::to_string(repeat);
  c.result.metric = "acc";
  c.result.items = 100;
  c.result.score = score;
  c.result.seconds = seconds;
  c.result.tokens = 1000;
  c.result.energy_j = energy_j;
  c.result.energy_source = energy_j ? source : "";
  return c;
}

TEST(ReportSummary, MediansAndBaselineDeltasMatchHandComputations) {
  const std::vector<study::CellRow> cells = {
      cell("f32", "arc", 1, 0.50, 360), cell("f32", "arc", 2, 0.50, 400), cell("f32", "arc", 3, 0.50, 380),
      cell("f32", "mmlu", 1, 0.30, 720),
      cell("int4", "arc", 1, 0.46, 180), cell("int4", "mmlu", 1, 0.30, 360),
  };
  const Summary s = summarize(cells, "");
  EXPECT_EQ(s.baseline, "f32");
  ASSERT_EQ(s.configs.size(), 2u);
  const ConfigSummary& f32 = s.configs[0];
  ASSERT_EQ(f32.tasks.size(), 2u);
  EXPECT_EQ(f32.tasks[0].repeats, 3);
  EXPECT_DOUBLE_EQ(*f32.tasks[0].energy_j, 380);  // median of 360, 400, 380
  EXPECT_DOUBLE_EQ(f32.tasks[0].energy_j_min, 360);
  EXPECT_DOUBLE_EQ(f32.score, 0.40);               // (0.50 + 0.30) / 2
  EXPECT_DOUBLE_EQ(*f32.energy_j, 1100);           // 380 + 720
  EXPECT_DOUBLE_EQ(*f32.eor(), 0.40 / (1100 / 3600.0));
  EXPECT_DOUBLE_EQ(*f32.tweor(), 0.40 / (1100 / 3600.0 * 20));
  EXPECT_DOUBLE_EQ(*f32.j_per_token(), 1100 / 2000.0);
  const Comparison& c = s.comparisons[1];
  EXPECT_EQ(c.baseline, 0);
  EXPECT_DOUBLE_EQ(*c.energy_reduction_pct, 100 * (1 - 540 / 1100.0));
  EXPECT_NEAR(*c.accuracy_loss_pts, 2.0, 1e-12);  // 100 * (0.40 - 0.38)
  EXPECT_NEAR(*c.accuracy_retention, 0.38 / 0.40, 1e-12);
  EXPECT_NEAR(*c.eor_improvement_pct, 100 * ((0.38 / 540) / (0.40 / 1100) - 1), 1e-9);
  EXPECT_TRUE(c.same_energy_source);
  EXPECT_DOUBLE_EQ(*s.comparisons[0].energy_reduction_pct, 0);
}

// Item outcomes from per-item scores (ids 0..n-1, one cluster per item unless given).
std::vector<metrics::ItemOutcome> outcomes(const std::vector<double>& scores, const std::string& cluster = "") {
  std::vector<metrics::ItemOutcome> out;
  for (size_t i = 0; i < scores.size(); ++i) out.push_back({std::to_string(i), scores[i], cluster, 0, std::nullopt});
  return out;
}

// Two tasks of 4 items: arc d = [0, -1, 0, -1] (mean -0.5, sample variance 1/3, SE sqrt(1/12)),
// mmlu d = [0, 0, 0, 0] (SE 0). The loss over tasks is 100 * 0.5 / 2 = 25 points, with a half
// width of 100 * 1.96 * sqrt(1/12 + 0) / 2 = 28.29: not distinguishable from 0 on 8 items.
TEST(ReportSummary, AccuracyLossCarriesItsPairedInterval) {
  std::vector<study::CellRow> cells = {cell("f32", "arc", 1, 0.75, 10), cell("f32", "mmlu", 1, 0.5, 10),
                                       cell("int8", "arc", 1, 0.25, 5), cell("int8", "mmlu", 1, 0.5, 5)};
  cells[0].result.item_outcomes = outcomes({1, 1, 0, 1});
  cells[1].result.item_outcomes = outcomes({1, 0, 1, 0});
  cells[2].result.item_outcomes = outcomes({1, 0, 0, 0});
  cells[3].result.item_outcomes = outcomes({1, 0, 1, 0});
  const Summary s = summarize(cells, "f32");
  const Comparison& c = s.comparisons[1];
  ASSERT_EQ(c.task_deltas.size(), 2u);
  ASSERT_TRUE(c.task_deltas[0].paired.has_value());
  EXPECT_DOUBLE_EQ(c.task_deltas[0].paired->mean_diff, -0.5);
  EXPECT_NEAR(c.task_deltas[0].paired->std_err, std::sqrt(1.0 / 12), 1e-15);
  EXPECT_EQ(c.task_deltas[0].paired->worse, 2);
  EXPECT_NEAR(*c.accuracy_loss_pts, 25, 1e-12);
  const double half = 100 * 1.959963984540054 * std::sqrt(1.0 / 12) / 2;
  EXPECT_NEAR(*c.accuracy_loss_low_pts, 25 - half, 1e-9);
  EXPECT_NEAR(*c.accuracy_loss_high_pts, 25 + half, 1e-9);
  EXPECT_FALSE(c.accuracy_loss_distinguishable());
  EXPECT_FALSE(s.comparisons[0].accuracy_loss_low_pts.has_value());  // the baseline against itself
  const std::string md = render_markdown(s, {});
  EXPECT_NE(md.find("+25.00 ± 28.29 (≈0)"), std::string::npos) << md;
  EXPECT_NE(md.find("-50.00 ± 56.58 (≈0), 0+ / 2-"), std::string::npos) << md;
  const auto j = nlohmann::json::parse(render_json(s, {}));
  EXPECT_NEAR(j["configs"][1]["vs_baseline"]["accuracy_loss_interval_pts"][1].get<double>(), 25 + half, 1e-9);
  EXPECT_EQ(j["configs"][1]["tasks"][0]["vs_baseline_paired"]["worse"], 2);

  // A cell stored before item outcomes were kept: the loss stands, without an interval, and says so.
  cells[3].result.item_outcomes.clear();
  const Summary old = summarize(cells, "f32");
  EXPECT_FALSE(old.comparisons[1].accuracy_loss_low_pts.has_value());
  EXPECT_FALSE(old.comparisons[1].task_deltas[1].paired.has_value());
  EXPECT_NE(render_markdown(old, {}).find("+25.00 (no item data)"), std::string::npos);
}

TEST(ReportSummary, MissingEnergyStaysAbsentAndMixedSourcesAreFlagged) {
  const std::vector<study::CellRow> cells = {
      cell("f32", "arc", 1, 0.5, 100), cell("f16", "arc", 1, 0.5, std::nullopt),
      cell("int8", "arc", 1, 0.5, 50, 10, "gpu0 counter"),
  };
  const Summary s = summarize(cells, "f32");
  EXPECT_FALSE(s.configs[1].energy_j.has_value());
  EXPECT_FALSE(s.configs[1].eor().has_value());
  EXPECT_FALSE(s.comparisons[1].energy_reduction_pct.has_value());
  EXPECT_TRUE(s.comparisons[1].accuracy_loss_pts.has_value());
  EXPECT_FALSE(s.comparisons[2].same_energy_source);
  const std::string md = render_markdown(s, ReportOptions{});
  EXPECT_NE(md.find("not measured"), std::string::npos);
  EXPECT_NE(md.find("(*) this configuration's energy comes from a different source"), std::string::npos);
  // A configuration whose baseline was never measured has no deltas.
  const Summary none = summarize(cells, "bf16");
  EXPECT_EQ(none.comparisons[0].baseline, -1);
  EXPECT_FALSE(none.comparisons[0].accuracy_loss_pts.has_value());
}

TEST(ReportCharts, ParetoFrontKeepsOnlyUnbeatenPoints) {
  const std::vector<Point> pts = {{10, 50, "a"}, {5, 40, "b"}, {12, 45, "c"}, {5, 30, "d"}, {20, 60, "e"}};
  EXPECT_EQ(pareto_front(pts), (std::vector<size_t>{1, 0, 4}));
  const std::string svg = svg_scatter(pts, "t <x>", "J", "%");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("t &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

TEST(ReportRenderers, CsvJsonAndHtmlCarryTheSameFigures) {
  const std::vector<study::CellRow> cells = {cell("f32", "arc", 1, 0.5, 360), cell("int4", "arc", 1, 0.45, 180)};
  const Summary s = summarize(cells, "f32");
  ReportOptions o;
  o.grid_g_per_kwh = 400;
  o.pue = 1.5;
  const std::string csv = render_csv(s, o);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_NE(csv.find(",0.06\n"), std::string::npos) << csv;  // 360 J = 1e-4 kWh, x 1.5 x 400 g/kWh = 0.06 g
  const auto j = nlohmann::json::parse(render_json(s, o));
  EXPECT_EQ(j["baseline"], "f32");
  EXPECT_DOUBLE_EQ(j["configs"][1]["vs_baseline"]["energy_reduction_pct"].get<double>(), 50.0);
  EXPECT_DOUBLE_EQ(j["configs"][0]["eor_per_wh"].get<double>(), 5.0);  // 0.5 / 0.1 Wh
  EXPECT_DOUBLE_EQ(*cost_per_mtok(s.configs[0], o), 360 / 3.6e6 * 0.15 / 1000 * 1e6);
  const std::string html = render_html(s, o, "r & d", {}, "none");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>r &amp; d</title>"), std::string::npos);
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_NE(html.find("No power samples were stored"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  EXPECT_NE(markdown_to_html("## A\n\n| x | y |\n| --- | ---: |\n| 1 | 2 |\n").find("<th>x</th><th>y</th>"),
            std::string::npos);
}

}  // namespace
}  // namespace joule::report
