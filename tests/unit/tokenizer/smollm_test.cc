// The default model's tokenizer (SmolLM2, gpt2 + "smollm" pre-tokenizer) read from its GGUF file.
// Expected ids were produced by llama.cpp (llama-cpp-python 0.3.36) for the same file.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "formats/gguf/gguf.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace joule {
namespace {

using Ids = std::vector<TokenId>;

const std::string kModel =
    std::string(JOULE_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

class SmolLM2 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kModel)) return;
    auto f = gguf::File::open(kModel);
    ASSERT_TRUE(f.ok()) << f.status().message();
    file_ = new gguf::File(std::move(f).value());
    const auto wall_start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    auto t = Tokenizer::from_gguf(*file_);
    build_cpu_ms_ = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    build_wall_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start)
            .count();
    ASSERT_TRUE(t.ok()) << t.status().message();
    tok_ = new Tokenizer(std::move(t).value());
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete file_;
    tok_ = nullptr;
    file_ = nullptr;
  }
  void SetUp() override {
    if (!tok_) GTEST_SKIP() << kModel << " not found (scripts/fetch_model.sh fetches it)";
  }

  static inline gguf::File* file_ = nullptr;
  static inline Tokenizer* tok_ = nullptr;
  static inline double build_cpu_ms_ = 0;
  static inline double build_wall_ms_ = 0;
};

TEST_F(SmolLM2, Metadata) {
  EXPECT_EQ(tok_->model(), "gpt2");
  EXPECT_EQ(tok_->pre(), "smollm");
  EXPECT_EQ(tok_->n_vocab(), 49152);
  EXPECT_EQ(tok_->bos(), 1);
  EXPECT_EQ(tok_->eos(), 2);
  EXPECT_FALSE(tok_->add_bos());
  EXPECT_EQ(tok_->token_text(2), "<|im_end|>");
}

TEST_F(SmolLM2, EndOfGeneration) {
  EXPECT_TRUE(tok_->is_eog(0));   // <|endoftext|>
  EXPECT_TRUE(tok_->is_eog(2));   // <|im_end|>
  EXPECT_TRUE(tok_->is_eog(4));   // <reponame>: llama.cpp's FIM repo-name token
  EXPECT_FALSE(tok_->is_eog(1));  // <|im_start|>
  EXPECT_FALSE(tok_->is_eog(19556));
  EXPECT_TRUE(tok_->is_control(1));
}

TEST_F(SmolLM2, MatchesLlamaCpp) {
  EXPECT_EQ(tok_->encode("Hello world", true, true), (Ids{19556, 905}));
  EXPECT_EQ(tok_->encode("<|im_start|>user\nhi<|im_end|>", false, true),
            (Ids{1, 4093, 198, 6004, 2}));
  EXPECT_EQ(
      tok_->encode("<|im_start|>user\nhi<|im_end|>", false, false),
      (Ids{44, 108, 306, 79, 3738, 108, 46, 4093, 198, 6004, 44, 108, 306, 79, 486, 108, 46}));
  EXPECT_EQ(tok_->encode("12345 abc  def\n\n  x", false, false),
            (Ids{33, 34, 35, 36, 37, 43239, 216, 753, 8866, 1792}));
  EXPECT_EQ(tok_->encode("I'm ok'S", false, false), (Ids{57, 5248, 10907, 23, 67}));
}

TEST_F(SmolLM2, ChatPromptRoundTrip) {
  auto jinja = file_->get_string("tokenizer.chat_template");
  ASSERT_TRUE(jinja.ok());
  auto tmpl = detect_chat_template(*jinja);
  ASSERT_TRUE(tmpl.ok());
  const std::string prompt = apply_chat_template(*tmpl, {{"user", "What is 2+2?"}}, true);
  const Ids ids = tok_->encode(prompt, false, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tok_->decode(ids, true), prompt);
  EXPECT_EQ(tok_->decode(ids),
            "system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face\n"
            "user\nWhat is 2+2?\nassistant\n");
}

// CPU time, not wall time, so that a busy machine does not fail the check; optimized builds only.
TEST_F(SmolLM2, BuildsFast) {
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(build_cpu_ms_, 100.0);
#endif
  std::printf("tokenizer built from GGUF metadata in %.1f ms CPU (%.1f ms wall)\n", build_cpu_ms_,
              build_wall_ms_);
}

}  // namespace
}  // namespace joule
