// Byte-level BPE on a small hand-made vocabulary: merge order, pre-tokenizer families, special
// tokens, decoding and llama.cpp's edge cases.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab.h"

namespace joule {
namespace {

using Ids = std::vector<TokenId>;

constexpr TokenId kHello = 259, kWorld = 264, k20 = 265, kImStart = 266, kImEnd = 267, kTool = 268,
                  kAbc = 269, kBot = 270;

// Ids 0..255 are the GPT-2 alphabet characters of bytes 0..255, so a byte's token id is its value.
VocabData byte_level_vocab(std::string pre) {
  VocabData d;
  d.model = "gpt2";
  d.pre = std::move(pre);
  for (int b = 0; b < 256; ++b)
    d.tokens.emplace_back(tok::byte_to_unicode(static_cast<uint8_t>(b)));
  for (const char* t : {"he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld",
                        "\xC4\xA0world", "20", "<|im_start|>", "<|im_end|>", "<tool>", "abc",
                        "<|begin_of_text|>"}) {
    d.tokens.emplace_back(t);
  }
  d.token_types.assign(d.tokens.size(), 1);
  d.token_types[kImStart] = 3;
  d.token_types[kImEnd] = 3;
  d.token_types[kTool] = 4;
  d.token_types[kBot] = 3;
  // "\xC4\xA0" is the alphabet character of the space byte (U+0120).
  d.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "l d",
              "\xC4\xA0wor ld", "2 0", "\xC4\xA0 \xC4\xA0"};
  d.bos = kBot;
  d.eos = kImEnd;
  return d;
}

Tokenizer make(std::string pre) {
  auto t = Tokenizer::from_vocab(byte_level_vocab(std::move(pre)));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(Unicode, NfcComposesAndLeavesTheRestAlone) {
  EXPECT_EQ(tok::nfc("cafe\xCC\x81"), "caf\xC3\xA9");          // e + U+0301 -> U+00E9
  EXPECT_EQ(tok::nfc("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");  // Hangul jamo -> one syllable
  EXPECT_EQ(tok::nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(tok::nfc("caf\xC3\xA9"), "caf\xC3\xA9");            // already NFC
  EXPECT_EQ(tok::nfc("e\xCC\x81\xFF"), "e\xCC\x81\xFF");        // invalid UTF-8: unchanged
  EXPECT_EQ(tok::nfc(""), "");
}

// tokenizer.joule.normalizer "nfc" (Hugging Face folders that normalize, as Qwen2's): decomposed
// and composed text give the same ids; an unknown normalizer is refused.
TEST(Bpe, NfcNormalizerMakesDecomposedTextEqualComposed) {
  VocabData d = byte_level_vocab("gpt-2");
  d.normalizer = "nfc";
  auto t = Tokenizer::from_vocab(std::move(d));
  ASSERT_TRUE(t.ok()) << t.status().message();
  const Ids composed = t->encode("caf\xC3\xA9 hello", false, true);
  EXPECT_EQ(t->encode("cafe\xCC\x81 hello", false, true), composed);
  EXPECT_NE(make("gpt-2").encode("cafe\xCC\x81 hello", false, true), composed);  // without it they differ
  EXPECT_EQ(t->encode("<|im_start|>e\xCC\x81", false, true), (Ids{kImStart, 0xC3, 0xA9}));
  VocabData bad = byte_level_vocab("gpt-2");
  bad.normalizer = "nfkc";
  EXPECT_EQ(Tokenizer::from_vocab(std::move(bad)).status().code(), ErrorCode::kUnsupported);
}

TEST(Bpe, MergesByRank) {
  const Tokenizer t = make("smollm");
  EXPECT_EQ(t.encode("hello world", false, false), (Ids{kHello, kWorld}));
  EXPECT_EQ(t.encode("lll", false, false), (Ids{257, 'l'}));  // equal ranks: leftmost first
  EXPECT_EQ(t.encode("", true, true), Ids{});
}

TEST(Bpe, SmollmSplitsEveryDigit) {
  EXPECT_EQ(make("smollm").encode("2024", false, false), (Ids{'2', '0', '2', '4'}));
  EXPECT_EQ(make("gpt-2").encode("2024", false, false), (Ids{k20, '2', '4'}));
}

TEST(Bpe, MergeResultMissingFromVocabDropsItsBytes) {
  // "Ġ Ġ" merges into "ĠĠ", which is no token; llama.cpp then looks up each UTF-8 byte of "ĠĠ" as
  // a one-byte token, finds none, and emits nothing for the two spaces.
  EXPECT_EQ(make("smollm").encode("a  ", false, false), (Ids{'a'}));
}

TEST(Bpe, BytesWithoutTokenAreDropped) {
  VocabData d = byte_level_vocab("smollm");
  d.tokens[0xF1] = "[no byte F1]";  // as in SmolLM2, whose vocab lacks the lead byte F1
  const auto t = Tokenizer::from_vocab(std::move(d));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->encode("\xF1\x80\x80\x80", false, false), (Ids{0x80, 0x80, 0x80}));  // U+40000
}

TEST(Bpe, IgnoreMergesTakesWholeWordTokens) {
  EXPECT_EQ(make("smollm").encode("abc", false, false), (Ids{'a', 'b', 'c'}));
  const Tokenizer t = make("llama-bpe");
  EXPECT_EQ(t.encode("abc", false, false), (Ids{kAbc}));
  EXPECT_TRUE(t.add_bos());  // llama3-style default when the file does not say
  EXPECT_EQ(t.encode("abc", true, false), (Ids{kBot, kAbc}));
}

TEST(Bpe, SpecialTokens) {
  const Tokenizer t = make("smollm");
  EXPECT_EQ(t.encode("<|im_start|>hello<|im_end|>", false, true), (Ids{kImStart, kHello, kImEnd}));
  const Ids plain = t.encode("<|im_start|>hello", false, false);
  ASSERT_EQ(plain.size(), 13u);  // "<", "|", "im", "_", ...: no merges apply to the markup
  EXPECT_EQ(plain.front(), '<');
  EXPECT_EQ(plain.back(), kHello);
  // User-defined tokens are matched even without parse_special, as in llama.cpp.
  EXPECT_EQ(t.encode("<tool>hello", false, false), (Ids{kTool, kHello}));
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.encode("hello", true, true), (Ids{kHello}));
}

TEST(Bpe, DecodeRendersControlTokensOnlyOnRequest) {
  const Tokenizer t = make("smollm");
  const Ids ids{kImStart, kHello, kWorld, kImEnd, kTool};
  EXPECT_EQ(t.decode(ids), "hello world<tool>");
  EXPECT_EQ(t.decode(ids, true), "<|im_start|>hello world<|im_end|><tool>");
  EXPECT_EQ(t.token_to_piece(kWorld), " world");
  EXPECT_EQ(t.token_to_piece(0xC3), "\xC3");  // half of a UTF-8 sequence, for streaming
  EXPECT_EQ(t.decode(t.encode("héllo wörld ✓", false, false)), "héllo wörld ✓");
}

TEST(Bpe, MalformedUtf8BecomesReplacementCharacters) {
  // llama.cpp decodes the text to code points first; each bad byte becomes U+FFFD (EF BF BD).
  EXPECT_EQ(make("smollm").encode("a\xFF" "b", false, false), (Ids{'a', 0xEF, 0xBF, 0xBD, 'b'}));
}

TEST(Bpe, EndOfGenerationAndControl) {
  const Tokenizer t = make("smollm");
  EXPECT_TRUE(t.is_eog(kImEnd));
  EXPECT_FALSE(t.is_eog(kImStart));
  EXPECT_FALSE(t.is_eog(-1));
  EXPECT_FALSE(t.is_eog(100000));
  EXPECT_TRUE(t.is_control(kImStart));
  EXPECT_FALSE(t.is_control(kTool));
  EXPECT_EQ(t.eos(), kImEnd);
  EXPECT_EQ(t.bos(), kBot);
  EXPECT_EQ(t.n_vocab(), 271);
  EXPECT_EQ(t.model(), "gpt2");
  EXPECT_EQ(t.pre(), "smollm");
  EXPECT_EQ(t.token_text(kWorld), "\xC4\xA0world");
}

TEST(Bpe, EogByTextForcesControl) {
  VocabData d = byte_level_vocab("smollm");
  d.tokens.emplace_back("<|endoftext|>");  // typed normal, but llama.cpp stops on it anyway
  d.token_types.push_back(1);
  const auto t = Tokenizer::from_vocab(std::move(d));
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->is_eog(271));
  EXPECT_TRUE(t->is_control(271));
  EXPECT_EQ(t->encode("<|endoftext|>", false, true), (Ids{271}));
}

TEST(Bpe, Errors) {
  auto unknown_pre = Tokenizer::from_vocab(byte_level_vocab("no-such-pre"));
  ASSERT_FALSE(unknown_pre.ok());
  EXPECT_EQ(unknown_pre.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(unknown_pre.status().message().find("no-such-pre"), std::string::npos);

  VocabData model = byte_level_vocab("smollm");
  model.model = "bert";
  EXPECT_EQ(Tokenizer::from_vocab(std::move(model)).status().code(), ErrorCode::kUnsupported);

  VocabData no_merges = byte_level_vocab("smollm");
  no_merges.merges.clear();
  EXPECT_EQ(Tokenizer::from_vocab(std::move(no_merges)).status().code(), ErrorCode::kFormat);

  VocabData short_types = byte_level_vocab("smollm");
  short_types.token_types.resize(10);
  EXPECT_EQ(Tokenizer::from_vocab(std::move(short_types)).status().code(), ErrorCode::kFormat);

  VocabData empty = byte_level_vocab("smollm");
  empty.tokens.clear();
  empty.token_types.clear();
  EXPECT_EQ(Tokenizer::from_vocab(std::move(empty)).status().code(), ErrorCode::kFormat);
}

TEST(Bpe, OutOfRangeSpecialIdsFallBack) {
  VocabData d = byte_level_vocab("smollm");
  d.bos = 5000;  // llama.cpp ignores it and uses the gpt2 default, 11
  d.eos.reset();
  const auto t = Tokenizer::from_vocab(std::move(d));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bos(), 11);
  EXPECT_EQ(t->eos(), 11);
}

}  // namespace
}  // namespace joule
