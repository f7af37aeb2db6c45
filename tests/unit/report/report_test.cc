// Report figures against hand computations, the Pareto front, and the renderers' shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <tuple>

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
  // Energy's spread: arc's repeats span 360-400 J, but mmlu was measured once.
  EXPECT_DOUBLE_EQ(f32.energy_j_min, 360 + 720);
  EXPECT_DOUBLE_EQ(f32.energy_j_max, 400 + 720);
  EXPECT_EQ(f32.min_repeats, 1);
  EXPECT_NE(render_markdown(s, {}).find("| 1100.0 (1 repeat) |"), std::string::npos);
  const Summary arc_only = summarize({cells[0], cells[1], cells[2]}, "");
  EXPECT_NE(render_markdown(arc_only, {}).find("| 380.0 (360.0-400.0) |"), std::string::npos) << render_markdown(arc_only, {});
}

// Item outcomes from per-item scores (ids 0..n-1, one cluster per item unless given).
std::vector<metrics::ItemOutcome> outcomes(const std::vector<double>& scores, const std::string& cluster = "") {
  std::vector<metrics::ItemOutcome> out;
  for (size_t i = 0; i < scores.size(); ++i) out.push_back({std::to_string(i), scores[i], cluster, 0, std::nullopt, std::nullopt});
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
  EXPECT_NEAR(*c.accuracy_loss_low_pts(), 25 - half, 1e-9);
  EXPECT_NEAR(*c.accuracy_loss_high_pts(), 25 + half, 1e-9);
  EXPECT_FALSE(c.accuracy_loss_distinguishable());
  // Retention = 1 + difference / the baseline's 0.625: 0.6 with 1 -+ half / 62.5 around it.
  EXPECT_NEAR(*c.retention_low(), 1 + (-25 - half) / 62.5, 1e-12);
  EXPECT_NEAR(*c.retention_high(), 1 + (-25 + half) / 62.5, 1e-12);
  // Telling -25 points from 0 takes 8 * (half / 25)^2 items at this spread.
  EXPECT_EQ(c.paired->items_to_decide(0), int(std::ceil(8 * std::pow(half / 25, 2))));
  EXPECT_FALSE(s.comparisons[0].paired.has_value());  // the baseline against itself
  const std::string md = render_markdown(s, {});
  EXPECT_NE(md.find("+25.00 ± 28.29 (≈0)"), std::string::npos) << md;
  EXPECT_NE(md.find("-50.00 ± 56.58 (≈0), 0+ / 2-"), std::string::npos) << md;
  const auto j = nlohmann::json::parse(render_json(s, {}));
  EXPECT_NEAR(j["configs"][1]["vs_baseline"]["accuracy_loss_interval_pts"][1].get<double>(), 25 + half, 1e-9);
  EXPECT_EQ(j["configs"][1]["tasks"][0]["vs_baseline_paired"]["worse"], 2);

  // A cell stored before item outcomes were kept: the loss stands, without an interval, and says so.
  cells[3].result.item_outcomes.clear();
  const Summary old = summarize(cells, "f32");
  EXPECT_FALSE(old.comparisons[1].paired.has_value());
  EXPECT_FALSE(old.comparisons[1].task_deltas[1].paired.has_value());
  EXPECT_NE(render_markdown(old, {}).find("+25.00 (no item data)"), std::string::npos);
}

// A task scored within its interval of what random answers score is flagged; with
// exclude_chance_tasks every configuration of the model leaves it out of its averages.
TEST(ReportSummary, TasksAtChanceAreFlaggedAndCanBeLeftOut) {
  auto with_chance = [](study::CellRow c, double chance) {
    for (int i = 0; i < 4; ++i) c.result.item_outcomes.push_back({std::to_string(i), i < 2 ? 1.0 : 0.0, "", 0, std::nullopt, chance});
    return c;
  };
  std::vector<study::CellRow> cells = {with_chance(cell("f32", "arc", 1, 0.60, 10), 0.25),
                                       with_chance(cell("f32", "mmlu", 1, 0.26, 10), 0.25),
                                       with_chance(cell("int8", "arc", 1, 0.50, 5), 0.25),
                                       with_chance(cell("int8", "mmlu", 1, 0.40, 5), 0.25)};
  for (study::CellRow& c : cells) c.result.score_stderr = 0.03;
  const Summary kept = summarize(cells, "f32");
  EXPECT_FALSE(kept.configs[0].tasks[0].at_chance);  // 60 - 1.96 x 3 > 25
  EXPECT_TRUE(kept.configs[0].tasks[1].at_chance);   // 26 - 1.96 x 3 <= 25
  EXPECT_DOUBLE_EQ(*kept.configs[0].tasks[1].chance, 0.25);
  EXPECT_FALSE(kept.configs[1].tasks[1].at_chance);
  EXPECT_NEAR(kept.configs[0].score, 0.43, 1e-12);
  const std::string md = render_markdown(kept, {});
  EXPECT_NE(md.find("At chance level (the score's interval reaches what random answers score): mmlu of smol (chance "
                    "25.00 %: f32 @ cpu/2 26.00). They are kept in the averages; --exclude-chance-tasks leaves them out."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| 26.00 (at chance: 25.00) |"), std::string::npos) << md;

  // Left out for int8 too, although int8 is above chance on it: both compare on arc alone.
  const Summary left = summarize(cells, "f32", 0.95, true);
  EXPECT_TRUE(left.configs[1].tasks[1].left_out);
  EXPECT_NEAR(left.configs[0].score, 0.60, 1e-12);
  EXPECT_NEAR(*left.configs[1].energy_j, 5, 1e-12);
  EXPECT_NEAR(*left.comparisons[1].accuracy_loss_pts, 10, 1e-9);
  EXPECT_EQ(left.comparisons[1].task_deltas.size(), 1u);
  EXPECT_NE(render_markdown(left, {}).find("| 26.00 (at chance: 25.00, left out) |"), std::string::npos);
  const auto j = nlohmann::json::parse(render_json(left, {}));
  EXPECT_EQ(j["exclude_chance_tasks"], true);
  EXPECT_EQ(j["configs"][0]["tasks"][1]["left_out"], true);
}

// EOR and TWEOR get the digits that tell configurations apart.
TEST(ReportSummary, EfficiencyColumnsHaveDigitsEnoughToDiffer) {
  const std::vector<study::CellRow> cells = {cell("f32", "arc", 1, 0.5, 3600), cell("int8", "arc", 1, 0.5, 3599)};
  const std::string md = render_markdown(summarize(cells, "f32"), {});
  EXPECT_NE(md.find("| 0.5 |"), std::string::npos) << md;       // EOR 0.5 / Wh
  EXPECT_NE(md.find("| 0.5001 |"), std::string::npos) << md;  // 0.5 / (3599 / 3600) = 0.500139: 4 digits differ
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

// An engine given one of the study's tasks: its mean is over that task alone, so the table says
// so, the JSON names the tasks it lacks, and the comparison with the baseline uses the common task.
TEST(ReportSummary, AConfigurationWithFewerTasksIsMarked) {
  std::vector<study::CellRow> cells = {cell("f32", "arc", 1, 0.6, 100), cell("f32", "gsm8k", 1, 0.2, 300),
                                       cell("int8", "gsm8k", 1, 0.1, 120)};
  const Summary s = summarize(cells, "f32");
  EXPECT_TRUE(s.configs[0].missing_tasks.empty());
  EXPECT_EQ(s.configs[1].missing_tasks, std::vector<std::string>{"arc"});
  EXPECT_DOUBLE_EQ(s.configs[1].score, 0.1);
  EXPECT_NEAR(*s.comparisons[1].accuracy_loss_pts, 10.0, 1e-9);      // gsm8k against gsm8k: 20 - 10
  EXPECT_NEAR(*s.comparisons[1].energy_reduction_pct, 60.0, 1e-9);  // 1 - 120 / 300
  const std::string md = render_markdown(s, {});
  EXPECT_NE(md.find("| 10.00 (1 of 2 tasks) |"), std::string::npos) << md;
  EXPECT_NE(md.find("Fewer tasks: int8 @ cpu/2 (smol) ran gsm8k."), std::string::npos) << md;
  const nlohmann::json j = nlohmann::json::parse(render_json(s, {}));
  EXPECT_EQ(j["configs"][1]["missing_tasks"], nlohmann::json::array({"arc"}));
  EXPECT_EQ(j["configs"][0]["missing_tasks"], nlohmann::json::array());
  // Another study in the same database with other tasks: nobody misses them.
  study::CellRow other = cell("f16", "hellaswag", 1, 0.4, 90);
  other.study = "t";
  cells.push_back(other);
  const Summary both = summarize(cells, "f32");
  EXPECT_TRUE(both.configs[0].missing_tasks.empty());
  EXPECT_EQ(both.configs[1].missing_tasks, std::vector<std::string>{"arc"});
  EXPECT_TRUE(both.configs[2].missing_tasks.empty());
}

TEST(ReportCharts, ParetoFrontKeepsOnlyUnbeatenPoints) {
  std::vector<Point> pts;
  for (const auto& [x, y, label] : std::vector<std::tuple<double, double, std::string>>{
           {10, 50, "a"}, {5, 40, "b"}, {12, 45, "c"}, {5, 30, "d"}, {20, 60, "e"}})
    pts.push_back({x, y, label, std::nullopt, std::nullopt});
  EXPECT_EQ(pareto_front(pts), (std::vector<size_t>{1, 0, 4}));
  const std::string svg = svg_scatter(pts, "t <x>", "J", "%");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("t &lt;x&gt;"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

TEST(ReportCharts, TicksStepByOneTwoOrFive) {
  EXPECT_DOUBLE_EQ(nice_step(10), 2);
  EXPECT_DOUBLE_EQ(nice_step(0.9), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(4700), 1000);
  EXPECT_DOUBLE_EQ(nice_step(33), 10);
  EXPECT_DOUBLE_EQ(nice_step(2.4), 0.5);
}

// The point labels' boxes (text-anchor start, as the scatter places them; 7 px a character).
std::vector<Box> label_boxes(const std::string& svg) {
  std::vector<Box> out;
  const std::string open = "<text x=\"";
  for (size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const size_t end = svg.find('>', at);
    const std::string tag = svg.substr(at, end - at);
    if (tag.find("text-anchor") != std::string::npos || tag.find("transform") != std::string::npos) continue;
    double x = 0, y = 0;
    EXPECT_EQ(std::sscanf(tag.c_str(), "<text x=\"%lf\" y=\"%lf\"", &x, &y), 2) << tag;
    const std::string text = svg.substr(end + 1, svg.find("</text>", end) - end - 1);
    out.push_back({x, y - 10, x + 7.0 * double(text.size()), y + 3});
  }
  return out;
}

TEST(ReportCharts, ScatterLabelsNeverOverlapAndFallBackToALegend) {
  // Five configurations within 2 accuracy points and 10 % of energy: crowded.
  std::vector<Point> pts;
  for (int i = 0; i < 5; ++i) pts.push_back({100.0 + 2 * i, 40.0 + 0.4 * i, "int8 @ cpu/2 config " + std::to_string(i), 38.0, 42.0 + i});
  const std::string svg = svg_scatter(pts, "t", "energy for all tasks, J", "accuracy, %", 10);
  const std::vector<Box> boxes = label_boxes(svg);
  ASSERT_EQ(boxes.size(), 5u) << svg;  // each named beside its point, no legend needed
  for (size_t i = 0; i < boxes.size(); ++i)
    for (size_t j = i + 1; j < boxes.size(); ++j) EXPECT_FALSE(boxes[i].intersects(boxes[j])) << i << " " << j << "\n" << svg;
  EXPECT_NE(svg.find("<path d=\"M"), std::string::npos);  // error bars

  // Forty points on one spot cannot all be labelled beside it: numbers, and a legend naming them.
  std::vector<Point> same(40, Point{50, 30, "a long configuration name", std::nullopt, std::nullopt});
  const std::string crowded = svg_scatter(same, "t", "J", "%");
  EXPECT_NE(crowded.find("a long configuration name (50, 30)"), std::string::npos) << crowded;
  const std::vector<Box> numbered = label_boxes(crowded);
  for (size_t i = 0; i < numbered.size(); ++i)
    for (size_t j = i + 1; j < numbered.size(); ++j)
      if (numbered[i].y1 <= 360 && numbered[j].y1 <= 360) {
        EXPECT_FALSE(numbered[i].intersects(numbered[j])) << i << " " << j;
      }
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
  const std::string html = render_html(s, o, {"r & d", {{"edge (battery: 15 W)", "none qualifies."}}, {}});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<title>r &amp; d</title>"), std::string::npos);
  EXPECT_NE(html.find("<table>"), std::string::npos);
  EXPECT_NE(html.find("<li><b>edge (battery: 15 W)</b>: none qualifies.</li>"), std::string::npos);
  EXPECT_LT(html.find("Verdict"), html.find("<svg"));  // the verdict comes first
  EXPECT_NE(html.find("No cell stored power samples"), std::string::npos);
  const std::string traced =
      render_html(s, o, {"t", {}, {{"f32 @ cpu/2, arc", {{"cpu, estimated", {0, 1}, {5, 6}}}}, {"int4 @ cpu/2, arc", {}}}});
  EXPECT_NE(traced.find("<details open><summary>f32 @ cpu/2, arc</summary>"), std::string::npos);
  EXPECT_NE(traced.find("<details><summary>int4 @ cpu/2, arc</summary>"), std::string::npos);
  EXPECT_NE(traced.find("cpu, estimated"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  EXPECT_NE(markdown_to_html("## A\n\n| x | y |\n| --- | ---: |\n| 1 | 2 |\n").find("<th>x</th><th>y</th>"),
            std::string::npos);
}

}  // namespace
}  // namespace joule::report
