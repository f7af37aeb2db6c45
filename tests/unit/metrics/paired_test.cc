// Paired differences checked against hand computations (Miller 2024's formulas, worked out below).
#include "metrics/paired.h"

#include <gtest/gtest.h>

#include <cmath>

namespace joule::metrics {
namespace {

std::vector<ItemOutcome> scores(const std::vector<double>& s, const std::vector<std::string>& clusters = {}) {
  std::vector<ItemOutcome> out;
  for (size_t i = 0; i < s.size(); ++i)
    out.push_back({"item" + std::to_string(i), s[i], clusters.empty() ? "" : clusters[i], -1, std::nullopt, std::nullopt});
  return out;
}

TEST(Paired, NormalQuantiles) {
  EXPECT_NEAR(normal_quantile_two_sided(0.95), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile_two_sided(0.99), 2.5758293035489004, 1e-12);
  EXPECT_NEAR(normal_quantile_two_sided(0.5), 0.6744897501960817, 1e-12);
  EXPECT_NEAR(normal_quantile_two_sided(0.999999), 4.891638475698358, 1e-9);  // the tail branch
}

// d = other - base = [0, 1, 0, -1, 0]: mean 0, sample variance (1 + 1) / 4 = 0.5,
// standard error sqrt(0.5 / 5) = 0.316228; one item better, one worse.
TEST(Paired, UnclusteredDifferenceByHand) {
  auto d = paired_difference(scores({1, 0, 1, 1, 0}), scores({1, 1, 1, 0, 0}));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->n, 5);
  EXPECT_DOUBLE_EQ(d->mean_diff, 0);
  EXPECT_NEAR(d->std_err, std::sqrt(0.1), 1e-15);
  EXPECT_EQ(d->clusters, 5);
  EXPECT_NEAR(d->ci_high, 1.959963984540054 * std::sqrt(0.1), 1e-12);
  EXPECT_NEAR(d->ci_low, -d->ci_high, 1e-15);
  EXPECT_EQ(d->better, 1);
  EXPECT_EQ(d->worse, 1);
  EXPECT_TRUE(d->includes_zero());
}

// The same differences in clusters A = {0, 1} and B = {0, -1, 0}: residual sums 1 and -1, so the
// clustered standard error is sqrt(1 + 1) / 5 = 0.282843.
TEST(Paired, ClusteredDifferenceByHand) {
  const std::vector<std::string> c = {"A", "A", "B", "B", "B"};
  auto d = paired_difference(scores({1, 0, 1, 1, 0}, c), scores({1, 1, 1, 0, 0}, c));
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->std_err, std::sqrt(2.0) / 5, 1e-15);
  EXPECT_EQ(d->clusters, 2);
  // Correlated flips inside a cluster widen it: A = {1, 1}, B = {0, 0, 0}; mean 0.4, residual
  // sums 2 * 0.6 = 1.2 and 3 * -0.4 = -1.2: sqrt(2.88) / 5 = 0.339411 against unclustered
  // sqrt(0.3 / 5) = 0.244949.
  auto wide = paired_difference(scores({0, 0, 1, 1, 0}, c), scores({1, 1, 1, 1, 0}, c));
  ASSERT_TRUE(wide.ok());
  EXPECT_NEAR(wide->mean_diff, 0.4, 1e-15);
  EXPECT_NEAR(wide->std_err, std::sqrt(2.88) / 5, 1e-15);
  auto flat = paired_difference(scores({0, 0, 1, 1, 0}), scores({1, 1, 1, 1, 0}));
  EXPECT_NEAR(flat->std_err, std::sqrt(0.3 / 5), 1e-15);
}

TEST(Paired, ItemsPairByIdAndBadInputIsRefused) {
  std::vector<ItemOutcome> base = scores({1, 0, 1});
  std::vector<ItemOutcome> other = scores({0, 1, 1, 1});
  other[0].id = "item2", other[1].id = "item0", other[2].id = "extra", other[3].id = "item1";
  auto d = paired_difference(base, other);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->n, 3);  // "extra" has no baseline
  EXPECT_NEAR(d->mean_diff, 0.0, 1e-15);  // -1 on item2, +1 on item1
  EXPECT_EQ(paired_difference(scores({1}), scores({1})).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(paired_difference(base, other, 1.0).status().code(), ErrorCode::kInvalidArgument);
  base.push_back(base[0]);
  EXPECT_EQ(paired_difference(base, other).status().code(), ErrorCode::kInvalidArgument);
}

// mean 0.02 with standard error 0.02 at n = 400: the 95 % interval's half width is 0.0392, so
// telling it from 0 takes 400 * (0.0392 / 0.02)^2 = 1537 items.
TEST(Paired, ItemsToDecide) {
  EXPECT_EQ(items_to_decide(400, 0.02, 0.02, 0.95, 0), int(std::ceil(400 * std::pow(1.959963984540054 * 0.02 / 0.02, 2))));
  EXPECT_EQ(items_to_decide(400, 0.02, 0.02, 0.95, 0.02), -1);
}

}  // namespace
}  // namespace joule::metrics
