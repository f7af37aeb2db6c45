#include "engine/loglik.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "../model/tiny_model.h"

namespace joule {
namespace {

class Loglik : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const std::string path = (std::filesystem::path(::testing::TempDir()) / ("loglik_" + name + ".gguf")).string();
    testing::TinyModelSpec spec;
    spec.logit_scale = 2.0f;
    testing::write_tiny_model(path, spec);
    model_ = std::move(Model::load(path)).value();
    tok_ = std::make_unique<Tokenizer>(std::move(Tokenizer::from_gguf(model_->file())).value());
  }
  // Sum of ln p(continuation tokens) from one evaluation of context + continuation.
  double naive(const std::vector<TokenId>& ctx, const std::vector<TokenId>& cont) {
    std::vector<TokenId> all = ctx;
    all.insert(all.end(), cont.begin(), cont.end());
    const int nv = model_->config().n_vocab;
    ForwardState st(*model_, static_cast<int>(all.size()));
    std::vector<float> logits(all.size() * nv);
    EXPECT_TRUE(forward(*model_, st, all, true, logits.data(), pool_, cpu::scalar_kernels()).ok());
    double s = 0;
    for (size_t i = ctx.size(); i < all.size(); ++i) {
      const float* l = &logits[(i - 1) * nv];
      const float mx = *std::max_element(l, l + nv);
      double z = 0;
      for (int v = 0; v < nv; ++v) z += std::exp(double(l[v]) - mx);
      s += double(l[all[i]]) - mx - std::log(z);
    }
    return s;
  }
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tok_;
  ThreadPool pool_{1};
};

TEST_F(Loglik, PrefixReuseEqualsScoringEachSequenceWhole) {
  LoglikScorer scorer(*model_, *tok_, 64, pool_, cpu::scalar_kernels());
  const std::string ctx = "the cat sat on";
  const std::vector<std::string> conts = {" the mat", " a hat", " it"};
  auto r = scorer.score(ctx, conts);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  const std::vector<TokenId> ctx_tok = tok_->encode(ctx, false, false);
  int64_t naive_tokens = 0;
  for (size_t i = 0; i < conts.size(); ++i) {
    const std::vector<TokenId> whole = tok_->encode(ctx + conts[i], false, false);
    const std::vector<TokenId> cont(whole.begin() + ctx_tok.size(), whole.end());
    naive_tokens += static_cast<int64_t>(whole.size()) - 1;  // the last token predicts nothing
    EXPECT_EQ((*r)[i].n_tokens, static_cast<int>(cont.size()));
    EXPECT_NEAR((*r)[i].logprob, naive(ctx_tok, cont), 1e-4) << conts[i];
    EXPECT_LT((*r)[i].logprob, 0.0);
  }
  // The context was evaluated once for the three continuations.
  EXPECT_EQ(scorer.stats().context_tokens, static_cast<int64_t>(ctx_tok.size()));
  EXPECT_EQ(scorer.stats().naive_tokens, naive_tokens);
  EXPECT_LT(scorer.stats().context_tokens + scorer.stats().continuation_tokens, naive_tokens);
}

TEST_F(Loglik, ConsecutiveContextsReuseTheirCommonPrefix) {
  LoglikScorer reused(*model_, *tok_, 64, pool_, cpu::scalar_kernels());
  const std::string shots = "the cat sat on the mat. the dog sat on the log.";
  ASSERT_TRUE(reused.score(shots + " a hat", {" b"}).ok());
  const int64_t before = reused.stats().context_tokens;
  auto second = reused.score(shots + " the cat", {" sat", " ran"});
  ASSERT_TRUE(second.ok()) << second.status().message();
  const std::vector<TokenId> first = tok_->encode(shots + " a hat", false, false);
  const std::vector<TokenId> now = tok_->encode(shots + " the cat", false, false);
  const size_t shared = std::mismatch(first.begin(), first.end(), now.begin(), now.end()).first - first.begin();
  ASSERT_GE(shared, tok_->encode(shots, false, false).size());
  EXPECT_EQ(reused.stats().context_tokens - before, static_cast<int64_t>(now.size() - shared));
  // The same numbers as a scorer that saw nothing before (up to the batch split's rounding).
  LoglikScorer fresh(*model_, *tok_, 64, pool_, cpu::scalar_kernels());
  auto expected = fresh.score(shots + " the cat", {" sat", " ran"});
  ASSERT_TRUE(expected.ok());
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR((*second)[i].logprob, (*expected)[i].logprob, 1e-4);
  // A context equal to the cached one still evaluates its last token (for its logits).
  const int64_t again = reused.stats().context_tokens;
  auto same = reused.score(shots + " the cat", {" sat", " ran"});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(reused.stats().context_tokens - again, 1);
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR((*same)[i].logprob, (*expected)[i].logprob, 1e-4);
}

TEST_F(Loglik, TrailingContextWhitespaceMovesToTheContinuation) {
  LoglikScorer scorer(*model_, *tok_, 64, pool_, cpu::scalar_kernels());
  auto a = scorer.score("Answer: ", {"yes"});
  auto b = scorer.score("Answer:", {" yes"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].logprob, (*b)[0].logprob);
  EXPECT_EQ((*a)[0].n_tokens, (*b)[0].n_tokens);
}

TEST_F(Loglik, GreedyContinuationIsFlagged) {
  LoglikScorer scorer(*model_, *tok_, 64, pool_, cpu::scalar_kernels());
  // The model's own greedy next tokens after the context.
  const std::string ctx = "hello";
  std::vector<TokenId> toks = tok_->encode(ctx, false, false);
  const int nv = model_->config().n_vocab;
  ForwardState st(*model_, 64);
  std::vector<float> logits(nv);
  ASSERT_TRUE(forward(*model_, st, toks, false, logits.data(), pool_, cpu::scalar_kernels()).ok());
  const TokenId next = static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const std::string greedy_text = tok_->decode(std::vector<TokenId>{next});
  auto r = scorer.score(ctx, {greedy_text});
  ASSERT_TRUE(r.ok());
  if (tok_->encode(ctx + greedy_text, false, false).size() == toks.size() + 1) {  // no merge across the boundary
    EXPECT_TRUE((*r)[0].greedy);
  }
  auto other = scorer.score(ctx, {greedy_text == "z" ? "q" : "z"});
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)[0].greedy);
}

TEST_F(Loglik, LongContextsLoseTokensOnTheLeft) {
  LoglikScorer scorer(*model_, *tok_, 32, pool_, cpu::scalar_kernels());
  std::string ctx;
  for (int i = 0; i < 20; ++i) ctx += "word ";
  auto r = scorer.score(ctx, {"end", "finish"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  const int longest = std::max((*r)[0].n_tokens, (*r)[1].n_tokens);
  EXPECT_EQ(scorer.stats().context_tokens, 32 - longest);
}

TEST_F(Loglik, BadRequestsAreClearErrors) {
  LoglikScorer scorer(*model_, *tok_, 16, pool_, cpu::scalar_kernels());
  auto empty = scorer.score("context", {""});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("encodes to no tokens"), std::string::npos);
  auto too_long = scorer.score("c", {std::string(40, 'x')});
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("does not fit the window of 16"), std::string::npos);
}

}  // namespace
}  // namespace joule
