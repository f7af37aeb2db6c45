#include "model/random_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "model/forward.h"

namespace joule {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

TEST(RandomModel, EveryShapeIsConsistent) {
  for (const ModelShape& s : model_shapes()) {
    EXPECT_EQ(s.d_model % s.n_heads, 0) << s.name;
    EXPECT_EQ(s.n_heads % s.n_kv_heads, 0) << s.name;
    EXPECT_EQ(s.d_model % 32, 0) << s.name << ": every block type needs widths that are multiples of 32";
    EXPECT_EQ(find_model_shape(s.name), &s);
  }
  EXPECT_EQ(find_model_shape("llama-7b"), find_model_shape("llama-2-7b"));
  EXPECT_EQ(find_model_shape("gpt-5"), nullptr);
  // Published sizes: SmolLM2-135M has 134.5 M weights, Llama-2-7B 6.74 B, Qwen2.5-7B 7.62 B.
  EXPECT_NEAR(random_model_params(*find_model_shape("smollm2-135m")) / 1e6, 134.5, 0.1);
  EXPECT_NEAR(random_model_params(*find_model_shape("llama-2-7b")) / 1e9, 6.74, 0.01);
  EXPECT_NEAR(random_model_params(*find_model_shape("qwen2.5-7b")) / 1e9, 7.62, 0.01);
}

TEST(RandomModel, WritesALoadableModelOfTheShape) {
  for (const char* arch : {"llama", "qwen2"}) {
    const ModelShape tiny{"tiny", arch, 2, 64, 128, 4, 2, 300, 256, 10000.0f, std::string_view(arch) == "qwen2"};
    const std::string path = temp_path(std::string("random_") + arch + ".gguf");
    int progress_calls = 0;
    RandomModelParams p{tiny, DType::kQ8_0, 7, [&](double f) {
                          EXPECT_GE(f, 0.0);
                          EXPECT_LE(f, 1.0);
                          ++progress_calls;
                        }};
    ASSERT_TRUE(write_random_model(path, p).ok());
    EXPECT_GT(progress_calls, 0);
    auto m = Model::load(path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const ModelConfig& c = (*m)->config();
    EXPECT_EQ(c.n_layers, 2);
    EXPECT_EQ(c.d_model, 64);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.n_vocab, 300);
    EXPECT_EQ((*m)->n_params(), random_model_params(tiny)) << arch;
    EXPECT_EQ((*m)->weights().layers[1].w_down.type, DType::kQ8_0);
    EXPECT_TRUE(*(*m)->file().get_bool("joule.random_weights"));
    ThreadPool pool(1);
    ForwardState st(**m, 8);
    std::vector<float> logits(300);
    const std::vector<TokenId> toks = {1, 2, 3};
    ASSERT_TRUE(forward(**m, st, toks, false, logits.data(), pool, cpu::best_kernels()).ok());
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    EXPECT_NE(logits[0], logits[1]);
  }
}

TEST(RandomModel, SameSeedSameFile) {
  const ModelShape tiny{"tiny", "llama", 1, 64, 128, 4, 4, 300, 256, 10000.0f, true};
  const std::string a = temp_path("seed_a.gguf"), b = temp_path("seed_b.gguf");
  ASSERT_TRUE(write_random_model(a, {tiny, DType::kF16, 3, {}}).ok());
  ASSERT_TRUE(write_random_model(b, {tiny, DType::kF16, 3, {}}).ok());
  auto fa = gguf::File::open(a), fb = gguf::File::open(b);
  ASSERT_TRUE(fa.ok() && fb.ok());
  const gguf::TensorInfo* ta = fa->find_tensor("blk.0.ffn_up.weight");
  EXPECT_EQ(std::memcmp(fa->tensor_data(*ta), fb->tensor_data(*fb->find_tensor("blk.0.ffn_up.weight")), ta->nbytes), 0);
}

}  // namespace
}  // namespace joule
