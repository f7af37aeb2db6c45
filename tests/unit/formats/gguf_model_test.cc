// The default model, when it has been fetched (scripts/fetch_model.sh): checks the reader against
// a real llama.cpp-produced file and keeps open() fast enough for 49k-entry vocabularies.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "formats/gguf/gguf.h"

namespace joule {
namespace {

// The bound only guards against accidentally quadratic parsing (a release build takes ~15 ms);
// ASan + UBSan make a debug build's parse several times slower.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kMaxOpenSeconds = 5.0;
#else
constexpr double kMaxOpenSeconds = 1.0;
#endif

const std::string kModel = std::string(JOULE_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";

TEST(GgufModel, SmolLM2) {
  if (!std::filesystem::exists(kModel)) GTEST_SKIP() << kModel << " absent (scripts/fetch_model.sh)";

  const auto start = std::chrono::steady_clock::now();
  auto opened = gguf::File::open(kModel);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  const gguf::File& f = *opened;
  EXPECT_LT(seconds, kMaxOpenSeconds);
  RecordProperty("open_ms", static_cast<int>(seconds * 1000));

  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.tensors().size(), 272u);
  EXPECT_EQ(*f.get_string("general.architecture"), "llama");
  EXPECT_EQ(*f.get_int("llama.block_count"), 30);
  EXPECT_EQ(*f.get_int("llama.embedding_length"), 576);
  EXPECT_EQ(*f.get_int("tokenizer.ggml.bos_token_id"), 1);

  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  EXPECT_EQ(tokens->size(), 49152u);
  auto merges = f.get_string_array("tokenizer.ggml.merges");
  ASSERT_TRUE(merges.ok()) << merges.status().message();
  EXPECT_EQ(merges->size(), 48900u);
  EXPECT_EQ(f.find("tokenizer.ggml.tokens")->render(), "[49152 x string]");

  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, DType::kQ8_0);
  EXPECT_EQ(embd->dims, (std::vector<int64_t>{576, 49152}));
  EXPECT_EQ(embd->nbytes, row_bytes(DType::kQ8_0, 576) * 49152);

  const gguf::TensorInfo* down = f.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->type, DType::kQ4_1);
  EXPECT_EQ(down->dims, (std::vector<int64_t>{1536, 576}));

  const gguf::TensorInfo& last = f.tensors().back();
  EXPECT_LE(f.data_offset() + last.offset + last.nbytes, f.file_size());
}

}  // namespace
}  // namespace joule
