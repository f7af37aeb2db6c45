#include "engine/stop_strings.h"

#include <gtest/gtest.h>

namespace joule {
namespace {

// Feeds pieces; returns everything emitted (and whether it stopped).
std::pair<std::string, bool> feed(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string all;
  for (const std::string& p : pieces) {
    const StopMatcher::Out out = m.push(p);
    all += out.text;
    if (out.stopped) return {all, true};
  }
  return {all + m.flush(), false};
}

TEST(StopMatcher, EndsAtTheFirstStopStringWhichIsNotEmitted) {
  StopMatcher m({"\n\n", "Question:"});
  EXPECT_EQ(feed(m, {"The answer", " is 4.", "\n", "\nQuestion: next"}), std::make_pair(std::string("The answer is 4."), true));
  EXPECT_EQ(m.push("more").text, "");  // nothing after a stop
}

TEST(StopMatcher, HoldsBackOnlyWhatCouldStillBecomeAStop) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.push("abc E").text, "abc ");  // "E" may begin "END"
  EXPECT_EQ(m.push("N").text, "");           // "EN" still may
  EXPECT_EQ(m.push("X").text, "ENX");        // no longer: released
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, AStopSplitOverManyPiecesAndTheEarliestOfSeveral) {
  StopMatcher m({"world", "lo w"});
  EXPECT_EQ(feed(m, {"hel", "lo", " ", "wor", "ld"}), std::make_pair(std::string("hel"), true));
}

TEST(StopMatcher, WithoutStopsEverythingPassesAndFlushReturnsTheRest) {
  StopMatcher none({"", ""});
  EXPECT_EQ(none.push("abc").text, "abc");
  StopMatcher m({"xyz"});
  EXPECT_EQ(feed(m, {"ab", "cx", "y"}), std::make_pair(std::string("abcxy"), false));  // flushed at the end
}

TEST(StopMatcher, ThousandsOfStopStringsStayCheap) {
  std::vector<std::string> stops;
  for (int i = 0; i < 4000; ++i) stops.push_back("stop-" + std::to_string(i));
  StopMatcher m(stops);
  std::string out;
  for (int i = 0; i < 200; ++i) out += m.push("word ").text;
  EXPECT_EQ(out.size() + m.flush().size(), 1000u);
  EXPECT_TRUE(m.push("stop-3999").stopped);
}

}  // namespace
}  // namespace joule
