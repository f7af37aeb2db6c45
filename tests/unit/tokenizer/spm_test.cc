// SentencePiece BPE (tokenizer.ggml.model "llama") on a small hand-made vocabulary with scores and
// byte fallback; expected ids worked out by hand from llama.cpp's algorithm.
#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace joule {
namespace {

using Ids = std::vector<TokenId>;

constexpr TokenId kUnk = 0, kBos = 1, kEos = 2;
constexpr TokenId byte_id(int b) { return 3 + b; }  // <0x00>..<0xFF> follow the specials

struct Piece {
  const char* text;
  float score;
};
// "▁" is U+2581. Merging "▁hello" from single characters goes ll, he, llo, hello, ▁hello.
constexpr Piece kPieces[] = {
    {"\xE2\x96\x81", -10}, {"h", -10},  {"e", -10},    {"l", -10},      {"o", -10},
    {"ll", -1},            {"he", -2},  {"llo", -3},   {"hello", -0.5}, {"\xE2\x96\x81hello", -0.1},
    {"\xE2\x96\x81h", -4}, {"lo", -5},  {"hell", -6},  {"\xE2\x96\x81he", -3.5},
};
constexpr TokenId kFirstPiece = 259;
constexpr TokenId piece_id(std::string_view text) {
  for (TokenId i = 0; i < static_cast<TokenId>(std::size(kPieces)); ++i) {
    if (text == kPieces[i].text) return kFirstPiece + i;
  }
  return -1;
}
constexpr TokenId kSpace = piece_id("\xE2\x96\x81");
constexpr TokenId kHello = piece_id("\xE2\x96\x81hello");
constexpr TokenId kBareHello = piece_id("hello");
constexpr TokenId kSpaceH = piece_id("\xE2\x96\x81h");

VocabData spm_vocab() {
  VocabData d;
  d.model = "llama";
  d.tokens = {"<unk>", "<s>", "</s>"};
  d.token_types = {2, 3, 3};
  d.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    d.tokens.emplace_back(name);
    d.token_types.push_back(6);
    d.scores.push_back(0);
  }
  for (const Piece& p : kPieces) {
    d.tokens.emplace_back(p.text);
    d.token_types.push_back(1);
    d.scores.push_back(p.score);
  }
  return d;
}

Tokenizer make(VocabData d = spm_vocab()) {
  auto t = Tokenizer::from_vocab(std::move(d));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(Spm, DefaultsFromLlamaCpp) {
  const Tokenizer t = make();
  EXPECT_EQ(t.bos(), kBos);
  EXPECT_EQ(t.eos(), kEos);
  EXPECT_TRUE(t.add_bos());
  EXPECT_TRUE(t.is_eog(kEos));
  EXPECT_TRUE(t.is_control(kBos));
  EXPECT_EQ(t.model(), "llama");
}

TEST(Spm, MergesByScoreWithSpacePrefix) {
  const Tokenizer t = make();
  EXPECT_EQ(t.encode("hello", true, false), (Ids{kBos, kHello}));
  EXPECT_EQ(t.encode("hello hello", false, false), (Ids{kHello, kHello}));
  // Two spaces: the first "▁" cannot merge with the second, which starts "▁hello".
  EXPECT_EQ(t.encode("hello  hello", false, false), (Ids{kHello, kSpace, kHello}));
}

TEST(Spm, ByteFallback) {
  const Tokenizer t = make();
  EXPECT_EQ(t.encode("hi", false, false), (Ids{kSpaceH, byte_id('i')}));
  EXPECT_EQ(t.encode("\xC3\xA9", false, false), (Ids{kSpace, byte_id(0xC3), byte_id(0xA9)}));
}

TEST(Spm, SpacePrefixAfterSpecialTokens) {
  const Tokenizer t = make();
  EXPECT_EQ(t.encode("hello</s>hello", false, true), (Ids{kHello, kEos, kHello}));
  // Without parse_special "</s>" is text: '<', '/', 's', '>' are not pieces, so they are bytes.
  EXPECT_EQ(t.encode("hello</s>", false, false),
            (Ids{kHello, byte_id('<'), byte_id('/'), byte_id('s'), byte_id('>')}));
}

TEST(Spm, NoSpacePrefixWhenTheFileSaysSo) {
  VocabData d = spm_vocab();
  d.add_space_prefix = false;
  EXPECT_EQ(make(std::move(d)).encode("hello", false, false), (Ids{kBareHello}));
}

TEST(Spm, Decode) {
  const Tokenizer t = make();
  EXPECT_EQ(t.token_to_piece(kHello), " hello");
  EXPECT_EQ(t.token_to_piece(byte_id(0xC3)), "\xC3");
  // llama_detokenize drops the prefixed space of the first token only; a leading BOS uses that
  // up, so the space after it stays (as in llama.cpp).
  EXPECT_EQ(t.decode(t.encode("hello hello", false, false)), "hello hello");
  EXPECT_EQ(t.decode(t.encode("hello hello", true, false)), " hello hello");
  EXPECT_EQ(t.decode(t.encode("hello \xC3\xA9", false, false)), "hello \xC3\xA9");
  EXPECT_EQ(t.decode(Ids{kBos, kHello, kEos}, true), "<s> hello</s>");
  EXPECT_EQ(t.decode(Ids{kUnk}), "");
}

}  // namespace
}  // namespace joule
