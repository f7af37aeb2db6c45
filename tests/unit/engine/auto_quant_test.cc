#include "engine/auto_quant.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "../model/tiny_model.h"

namespace joule {
namespace {

class AutoQuant : public ::testing::Test {
 protected:
  void SetUp() override {
    // One file per test: ctest runs the tests of this fixture in parallel processes.
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const std::string path = (std::filesystem::path(::testing::TempDir()) / ("auto_" + name + ".gguf")).string();
    testing::TinyModelSpec spec;
    spec.logit_scale = 2.0f;  // peaked predictions: quantization noise shows in the perplexity
    testing::write_tiny_model(path, spec);
    const Policy hi = Policy::uniform(DType::kF32), lo = Policy::uniform(DType::kQ4_0);
    high_ = std::move(Model::load(path, {&hi})).value();
    low_ = std::move(Model::load(path, {&lo})).value();
    // Calibration text sampled from the f32 model itself (restarted every 64 tokens, like the
    // chunks): on its own samples no other model has a lower expected perplexity (Gibbs), so
    // quantizing raises it.
    ThreadPool pool(1);
    const int nv = high_->config().n_vocab;
    std::vector<float> logits(static_cast<size_t>(nv));
    std::mt19937 rng(3);
    for (int c = 0; c < kChunks; ++c) {
      ForwardState st(*high_, 64);
      TokenId t = (5 + 17 * c) % nv;
      for (int i = 0; i < 64; ++i) {
        calib_.push_back(t);
        const TokenId one[1] = {t};
        ASSERT_TRUE(forward(*high_, st, one, false, logits.data(), pool, cpu::best_kernels()).ok());
        const float mx = *std::max_element(logits.begin(), logits.end());
        std::vector<double> w(logits.size());
        for (size_t v = 0; v < w.size(); ++v) w[v] = std::exp(double(logits[v]) - mx);
        t = std::discrete_distribution<TokenId>(w.begin(), w.end())(rng);
      }
    }
  }
  static constexpr int kChunks = 24;
  Expected<AutoQuantResult> run(double budget, bool by_block) {
    AutoQuantParams p;
    p.budget_rel = budget;
    p.by_block = by_block;
    p.perplexity = {64, kChunks, -1};
    ThreadPool pool(2);
    return auto_quantize(*high_, *low_, DType::kF32, DType::kQ4_0, calib_, p, pool, cpu::best_kernels());
  }
  std::unique_ptr<Model> high_, low_;
  std::vector<TokenId> calib_;
};

TEST_F(AutoQuant, GenerousBudgetMakesEverythingLow) {
  auto r = run(10.0, false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->n_low, r->ranking.size());
  EXPECT_EQ(r->ranking.size(), 1u + 2 * 7);  // tied embedding + 2 blocks x 7 matrices
  EXPECT_EQ(r->final_ppl, r->all_low_ppl);
  EXPECT_EQ(r->evaluations, 2 + 15);
  for (size_t i = 1; i < r->ranking.size(); ++i) EXPECT_LE(r->ranking[i - 1].ppl, r->ranking[i].ppl);
}

TEST_F(AutoQuant, BudgetIsRespectedByMeasurement) {
  auto probe = run(10.0, false);
  ASSERT_TRUE(probe.ok());
  // A budget between the cheapest group and everything low.
  const double budget = (probe->ranking.front().increase_rel + (probe->all_low_ppl / probe->high_ppl - 1)) / 2;
  ASSERT_GT(budget, probe->ranking.front().increase_rel);
  auto r = run(budget, false);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GE(r->n_low, 1u);
  EXPECT_LT(r->n_low, r->ranking.size());
  EXPECT_LE(r->final_ppl, r->high_ppl * (1 + budget));
  // The policy lists the chosen tensors as low, then the catch-all high, and it reproduces the
  // measured perplexity when applied.
  ASSERT_EQ(r->policy.rules().size(), r->n_low + 1);
  EXPECT_EQ(r->policy.rules().back().pattern, "*");
  EXPECT_EQ(r->policy.rules().back().type, DType::kF32);
  auto mixed = Model::mix(*high_, *low_, [&](const std::string& n) {
    return r->policy.type_for(n, DType::kF32) == DType::kQ4_0;
  });
  ASSERT_TRUE(mixed.ok());
  ThreadPool pool(2);
  auto st = perplexity(**mixed, nullptr, calib_, {64, kChunks, -1}, pool, cpu::best_kernels());
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->ppl(), r->final_ppl);
}

TEST_F(AutoQuant, ByBlockGroupsTheBlocks) {
  auto r = run(10.0, true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->ranking.size(), 3u);  // token_embd.weight, blk.0.*, blk.1.*
  for (const auto& g : r->ranking)
    EXPECT_TRUE(g.group == "token_embd.weight" || g.group == "blk.0.*" || g.group == "blk.1.*") << g.group;
}

TEST_F(AutoQuant, ImpossibleBudgetsAreRejected) {
  // A "low" model whose every tensor is a different random tensor.
  const std::string other = (std::filesystem::path(::testing::TempDir()) / "auto_other.gguf").string();
  testing::TinyModelSpec spec;
  spec.seed = 99;
  spec.logit_scale = 2.0f;
  testing::write_tiny_model(other, spec);
  low_ = std::move(Model::load(other)).value();
  // By block (a block swap changes its value and FFN matrices, which this model depends on; its
  // attention query and key matrices alone barely matter).
  auto zero = run(0.001, true);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("is smaller than the cost of making any single block q4_0 (cheapest: "),
            std::string::npos)
      << zero.status().message();
  auto negative = run(-0.01, false);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("budget must be >= 0"), std::string::npos);
}

}  // namespace
}  // namespace joule
