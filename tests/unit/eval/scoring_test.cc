#include "eval/scoring.h"

#include <gtest/gtest.h>

#include <cmath>

namespace joule::eval {
namespace {

TEST(Scoring, AccAccNormAndPerToken) {
  // Choice 0 has the highest total; choice 1 the highest per character; choice 2 per token.
  const std::vector<ChoiceLoglik> ll = {{-4.0, 4}, {-6.0, 2}, {-5.0, 10}};
  const std::vector<std::string> choices = {"ab", "abcdefghijkl", "abcdef"};
  const McScores gold0 = score_mc(ll, choices, 0);
  EXPECT_EQ(gold0.acc, 1);
  EXPECT_EQ(gold0.acc_norm, 0);  // -4/2 = -2, -6/12 = -0.5, -5/6 = -0.83: choice 1
  EXPECT_EQ(gold0.acc_per_token, 0);
  EXPECT_EQ(score_mc(ll, choices, 1).acc_norm, 1);
  EXPECT_EQ(score_mc(ll, choices, 2).acc_per_token, 1);  // -1, -3, -0.5
  // What each criterion picked and its lead over the runner-up: -4 over -5; -0.5 over -0.83;
  // -0.5 over -1.
  EXPECT_EQ(gold0.pick.choice, 0);
  EXPECT_DOUBLE_EQ(*gold0.pick.margin, 1.0);
  EXPECT_EQ(gold0.pick_norm.choice, 1);
  EXPECT_NEAR(*gold0.pick_norm.margin, -0.5 + 5.0 / 6, 1e-15);
  EXPECT_EQ(gold0.pick_per_token.choice, 2);
  EXPECT_DOUBLE_EQ(*gold0.pick_per_token.margin, 0.5);
  EXPECT_FALSE(score_mc({{-1.0, 1}}, {"a"}, 0).pick.margin.has_value());  // one choice: no runner-up
}

TEST(Scoring, TiesGoToTheFirstChoice) {
  const std::vector<ChoiceLoglik> ll = {{-1.0, 1}, {-1.0, 1}};
  EXPECT_EQ(score_mc(ll, {"a", "b"}, 0).acc, 1);
  EXPECT_EQ(score_mc(ll, {"a", "b"}, 1).acc, 0);
  EXPECT_DOUBLE_EQ(*score_mc(ll, {"a", "b"}, 0).pick.margin, 0.0);  // a tie is a zero margin
}

TEST(Scoring, CharacterLengthCountsCodePoints) {
  EXPECT_EQ(utf8_length("abc"), 3u);
  EXPECT_EQ(utf8_length("caf\xC3\xA9"), 4u);          // café
  EXPECT_EQ(utf8_length("\xE2\x82\xAC" "5"), 2u);      // €5
  EXPECT_EQ(utf8_length("\xF0\x9F\x98\x80"), 1u);      // one emoji
}

TEST(Scoring, Mc2IsTheTrueProbabilityMass) {
  const std::vector<ChoiceLoglik> ll = {{std::log(0.2), 1}, {std::log(0.1), 1}, {std::log(0.3), 1}, {std::log(0.4), 1}};
  EXPECT_NEAR(score_mc2(ll, {1, 1, 0, 0}), 0.3, 1e-12);
  // The harness counts only the answers before the first false one as true.
  EXPECT_NEAR(score_mc2(ll, {1, 0, 1, 0}), 0.2, 1e-12);
  EXPECT_EQ(score_mc2({}, {}), 0.0);
}

}  // namespace
}  // namespace joule::eval
