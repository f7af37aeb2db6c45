#include "engine/perplexity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../model/tiny_model.h"

namespace joule {
namespace {

std::unique_ptr<Model> tiny(const std::string& name, const Policy* policy = nullptr) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / name).string();
  testing::write_tiny_model(path, {});
  auto m = Model::load(path, {policy});
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

std::vector<TokenId> text_tokens(int n) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (i * 37 + 11) % 300;
  return t;
}

TEST(Perplexity, ScoresTheSecondHalfOfEachChunkLikeLlamaCpp) {
  auto m = tiny("ppl.gguf");
  ThreadPool pool(2);
  const std::vector<TokenId> toks = text_tokens(2 * 32 + 5);  // 2 chunks; the rest is unused
  PerplexityParams p{32, 0, /*bos=*/7};
  auto st = perplexity(*m, nullptr, toks, p, pool, cpu::best_kernels());
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->chunks, 2);
  EXPECT_EQ(st->scored, 2 * 15);  // positions 16..30 predict 17..31

  // By hand: each chunk from an empty cache, its first token replaced by BOS.
  const int nv = m->config().n_vocab;
  double nll = 0;
  for (int c = 0; c < 2; ++c) {
    std::vector<TokenId> chunk(toks.begin() + 32 * c, toks.begin() + 32 * (c + 1));
    chunk[0] = 7;
    ForwardState s(*m, 32);
    std::vector<float> logits(static_cast<size_t>(32 * nv));
    ASSERT_TRUE(forward(*m, s, chunk, true, logits.data(), pool, cpu::best_kernels()).ok());
    for (int i = 16; i < 31; ++i) {
      const float* l = &logits[static_cast<size_t>(i * nv)];
      double sum = 0;
      const float mx = *std::max_element(l, l + nv);
      for (int v = 0; v < nv; ++v) sum += std::exp(double(l[v]) - mx);
      nll -= double(l[chunk[i + 1]]) - mx - std::log(sum);
    }
  }
  EXPECT_NEAR(st->ppl(), std::exp(nll / 30), 1e-9 * st->ppl());
  EXPECT_GT(st->ppl_stderr(), 0);
}

TEST(Perplexity, ChunkLimitAndProgress) {
  auto m = tiny("ppl_limit.gguf");
  ThreadPool pool(1);
  int calls = 0;
  auto st = perplexity(*m, nullptr, text_tokens(5 * 16), {16, 3, -1}, pool, cpu::best_kernels(),
                       [&](const PerplexityStats& s, int total) {
                         ++calls;
                         EXPECT_EQ(s.chunks, calls);
                         EXPECT_EQ(total, 3);
                       });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->chunks, 3);
  EXPECT_EQ(calls, 3);
}

TEST(Perplexity, AgainstItselfTheDivergenceIsZero) {
  auto m = tiny("ppl_self.gguf");
  ThreadPool pool(2);
  auto st = perplexity(*m, m.get(), text_tokens(64), {32, 0, -1}, pool, cpu::best_kernels());
  ASSERT_TRUE(st.ok());
  EXPECT_NEAR(st->kl_mean(), 0.0, 1e-12);
  EXPECT_EQ(st->top1_agreement(), 1.0);
  EXPECT_DOUBLE_EQ(st->ref_ppl(), st->ppl());
}

TEST(Perplexity, QuantizedAgainstF32DivergesALittle) {
  const Policy q4 = Policy::uniform(DType::kQ4_0);
  auto ref = tiny("ppl_f32.gguf");
  auto m = tiny("ppl_q4.gguf", &q4);
  ThreadPool pool(2);
  auto st = perplexity(*m, ref.get(), text_tokens(128), {64, 0, -1}, pool, cpu::best_kernels());
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->kl_mean(), 0.0);
  EXPECT_LT(st->kl_mean(), 0.1);
  EXPECT_GT(st->top1_agreement(), 0.5);
  EXPECT_NE(st->ppl(), st->ref_ppl());
}

TEST(Perplexity, BadInputIsAClearError) {
  auto m = tiny("ppl_bad.gguf");
  ThreadPool pool(1);
  auto short_text = perplexity(*m, nullptr, text_tokens(20), {32, 0, -1}, pool, cpu::best_kernels());
  ASSERT_FALSE(short_text.ok());
  EXPECT_NE(short_text.status().message().find("fewer than one chunk"), std::string::npos);
  EXPECT_NE(short_text.status().message().find("--ctx 20 would fit it"), std::string::npos)
      << short_text.status().message();
  auto big_ctx = perplexity(*m, nullptr, text_tokens(2000), {1024, 0, -1}, pool, cpu::best_kernels());
  ASSERT_FALSE(big_ctx.ok());
  EXPECT_NE(big_ctx.status().message().find("must be between 16 and the model's context 256"),
            std::string::npos)
      << big_ctx.status().message();
}

}  // namespace
}  // namespace joule
