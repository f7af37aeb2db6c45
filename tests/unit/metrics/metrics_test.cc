#include <gtest/gtest.h>

#include <cmath>

#include "metrics/efficiency.h"
#include "metrics/stats.h"

namespace joule::metrics {
namespace {

TEST(Stats, MeanAndItsStandardError) {
  const std::vector<double> x = {1, 0, 1, 1};
  EXPECT_DOUBLE_EQ(mean(x), 0.75);
  // sample variance 0.25; sqrt(0.25 / 4) = 0.25
  EXPECT_DOUBLE_EQ(mean_stderr(x), 0.25);
  EXPECT_EQ(mean_stderr({1.0}), 0.0);
}

TEST(Stats, PercentilesInterpolateAsNumpy) {
  // numpy.percentile([1, 2, 3, 4, 10], [0, 50, 90, 99, 100]) = [1, 3, 7.6, 9.76, 10]
  const std::vector<double> x = {10, 3, 1, 4, 2};
  EXPECT_DOUBLE_EQ(percentile(x, 0), 1);
  EXPECT_DOUBLE_EQ(percentile(x, 50), 3);
  EXPECT_NEAR(percentile(x, 90), 7.6, 1e-12);
  EXPECT_NEAR(percentile(x, 99), 9.76, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(x, 100), 10);
  EXPECT_EQ(percentile({}, 50), 0);
  EXPECT_EQ(percentile({5}, 99), 5);
}

TEST(Stats, BootstrapOfTheMeanApproachesTheAnalyticStderr) {
  std::vector<double> x;
  for (int i = 0; i < 400; ++i) x.push_back(i % 3 == 0 ? 1.0 : 0.0);
  const double boot = bootstrap_stderr(x, [](const std::vector<double>& v) { return mean(v); }, 2000, 7);
  EXPECT_NEAR(boot, mean_stderr(x), 0.15 * mean_stderr(x));
  EXPECT_EQ(boot, bootstrap_stderr(x, [](const std::vector<double>& v) { return mean(v); }, 2000, 7));  // seeded
}

TEST(Efficiency, EorAndTweorByHand) {
  // 0.5 accuracy for 7200 J (2 Wh) in 10 s: EOR 0.25 per Wh, TWEOR 0.025 per Wh s.
  EXPECT_DOUBLE_EQ(eor(0.5, 7200), 0.25);
  EXPECT_DOUBLE_EQ(tweor(0.5, 7200, 10), 0.025);
  EXPECT_DOUBLE_EQ(change_pct(90, 100), -10.0);
}

}  // namespace
}  // namespace joule::metrics
