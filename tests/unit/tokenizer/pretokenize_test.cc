// Pre-tokenizer word splits, including the places where llama.cpp's own matchers differ from a
// plain PCRE2 reading of the same regex (U+0085 is whitespace; pieces end lookaheads).
#include "tokenizer/pretokenize.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace joule::tok {
namespace {

using Words = std::vector<std::string>;

Words split(std::string_view pre, std::string_view text) {
  auto p = PreTokenizer::create(pre);
  EXPECT_TRUE(p.ok()) << p.status().message();
  std::vector<std::string_view> words;
  p->split(text, words);
  return {words.begin(), words.end()};
}

TEST(PreTokenizer, Smollm) {
  EXPECT_EQ(split("smollm", "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split("smollm", "I'm 123 ok"), (Words{"I", "'m", " ", "1", "2", "3", " ok"}));
  EXPECT_EQ(split("smollm", "a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(split("smollm", "a\n\nb  "), (Words{"a", "\n", "\n", "b", "  "}));
  EXPECT_EQ(split("smollm", "DON'T x"), (Words{"DON", "'", "T", " x"}));  // case-sensitive 't
  // The digit split runs first, so "  " before a digit ends its piece and stays whole.
  EXPECT_EQ(split("smollm", "x  1"), (Words{"x", "  ", "1"}));
  EXPECT_EQ(split("smollm", "\xD9\xA3\xE2\x85\xA7"), (Words{"\xD9\xA3", "\xE2\x85\xA7"}));  // ٣Ⅷ
}

TEST(PreTokenizer, NextLineIsWhitespaceAsInLlamaCpp) {
  // U+0085 is White_Space (llama.cpp's \s) but not in PCRE2's UCP \s.
  EXPECT_EQ(split("smollm", "a\xC2\x85\xC2\x85" "b"), (Words{"a", "\xC2\x85", "\xC2\x85", "b"}));
}

TEST(PreTokenizer, Unicode15LettersAreLetters) {
  // U+11F04 KAWI LETTER A (Unicode 15): a letter to llama.cpp, unknown to PCRE2 10.42.
  EXPECT_EQ(split("smollm", "a\xF0\x91\xBC\x84 b"), (Words{"a\xF0\x91\xBC\x84", " b"}));
}

TEST(PreTokenizer, Llama3) {
  EXPECT_EQ(split("llama3", "Hello  world!!\n\n"), (Words{"Hello", " ", " world", "!!\n\n"}));
  EXPECT_EQ(split("llama3", "12345"), (Words{"123", "45"}));
  EXPECT_EQ(split("llama3", "DON'T"), (Words{"DON", "'T"}));
  EXPECT_EQ(split("llama3", "a \n\n b"), (Words{"a", " \n\n", " b"}));
}

TEST(PreTokenizer, Qwen2AndDefault) {
  EXPECT_EQ(split("qwen2", "x=12;"), (Words{"x", "=", "1", "2", ";"}));
  EXPECT_EQ(split("default", "ab,c 1234"), (Words{"ab", ",", "c", " ", "123", "4"}));
}

TEST(PreTokenizer, UnknownName) {
  auto p = PreTokenizer::create("tekken");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace joule::tok
