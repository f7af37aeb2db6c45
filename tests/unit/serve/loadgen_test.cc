// The load generator's pure parts: the class drawn for each request under --mix, and the
// per-class summary.
#include "serve/loadgen.h"

#include <gtest/gtest.h>

namespace joule::serve {
namespace {

using sched::Priority;

TEST(Loadgen, MixDrawsClassesInTheirSharesTheSameForASeed) {
  LoadgenConfig c;
  EXPECT_FALSE(class_of(c, 0).has_value());  // no mix: no priority sent
  c.mix = std::array<double, 3>{0.1, 0.6, 0.3};
  std::array<int, 3> n{};
  for (int i = 0; i < 20000; ++i) ++n[size_t(sched::index_of(*class_of(c, i)))];
  EXPECT_NEAR(n[0] / 20000.0, 0.1, 0.01);
  EXPECT_NEAR(n[1] / 20000.0, 0.6, 0.015);
  EXPECT_NEAR(n[2] / 20000.0, 0.3, 0.015);
  LoadgenConfig again = c;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(class_of(c, i), class_of(again, i));
  c.mix = std::array<double, 3>{0, 0, 2};  // shares need not sum to 1
  for (int i = 0; i < 100; ++i) EXPECT_EQ(class_of(c, i), Priority::kLow);
}

TEST(Loadgen, SummaryPerClass) {
  LoadgenConfig c;
  c.mix = std::array<double, 3>{1, 1, 1};
  auto record = [](int status, double ttft_s, double latency_s, std::optional<double> energy_j, Priority p) {
    RequestRecord r;
    r.status = status;
    if (status == 200) {
      r.ttft_s = ttft_s;
      r.latency_s = latency_s;
      r.output_tokens = 5;
    } else {
      r.error = "full";
    }
    r.energy_j = energy_j;
    r.priority = p;
    return r;
  };
  const std::vector<RequestRecord> records = {record(200, 0.1, 1, 2, Priority::kUrgent),
                                              record(200, 0.5, 2, 4, Priority::kLow),
                                              record(429, 0, 0, std::nullopt, Priority::kLow)};
  const LoadgenSummary s = summarize(records, c, 10);
  EXPECT_EQ(s.completed, 2);
  ASSERT_EQ(s.by_priority.size(), 3u);
  EXPECT_EQ(s.by_priority[0].first, "urgent");
  EXPECT_EQ(s.by_priority[0].second.completed, 1);
  EXPECT_DOUBLE_EQ(s.by_priority[0].second.ttft_ms.median, 100);
  EXPECT_EQ(s.by_priority[1].second.completed, 0);
  EXPECT_EQ(s.by_priority[2].second.completed, 1);
  EXPECT_EQ(s.by_priority[2].second.errors.at("429"), 1);
  EXPECT_DOUBLE_EQ(*s.by_priority[2].second.j_per_request, 4);
  EXPECT_TRUE(summary_text(s).find("urgent") != std::string::npos);
  EXPECT_EQ(summary_json(s)["by_priority"]["low"]["failed"], 1);
}

}  // namespace
}  // namespace joule::serve
