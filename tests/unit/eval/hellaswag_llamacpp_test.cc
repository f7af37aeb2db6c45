#include "eval/hellaswag_llamacpp.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "../model/tiny_model.h"

namespace joule::eval {
namespace {

TEST(LlamaCppHellaSwag, SelectionDrawsDistinctItemsDeterministically) {
  EXPECT_EQ(llamacpp_hellaswag_selection(5, 10), (std::vector<size_t>{0, 1, 2, 3, 4}));
  const std::vector<size_t> a = llamacpp_hellaswag_selection(10042, 400);
  ASSERT_EQ(a.size(), 400u);
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 400u);
  for (size_t i : a) EXPECT_LT(i, 10042u);
  EXPECT_EQ(a, llamacpp_hellaswag_selection(10042, 400));
}

TEST(LlamaCppHellaSwag, ScoresEveryItem) {
  const std::string path = (std::filesystem::path(::testing::TempDir()) / "hs_llamacpp.gguf").string();
  testing::write_tiny_model(path, {});
  auto m = Model::load(path);
  ASSERT_TRUE(m.ok());
  auto tok = Tokenizer::from_gguf((*m)->file());
  ASSERT_TRUE(tok.ok());
  McItem a{"0", "x", "a man cuts bread. he", {"sings.", "spreads butter.", "flies.", "sleeps."}, {}, 1, {}, {}};
  McItem b{"1", "y", "a girl runs. she", {"jumps.", "reads.", "cooks.", "swims."}, {}, 0, {}, {}};
  ThreadPool pool(1);
  int calls = 0;
  auto r = llamacpp_hellaswag(**m, *tok, {a, b}, pool, cpu::best_kernels(), [&](int, int) { ++calls; });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->n, 2);
  EXPECT_EQ(calls, 2);
  EXPECT_GE(r->correct, 0);
  EXPECT_LE(r->correct, 2);
  EXPECT_GT(r->tokens, 0);
}

}  // namespace
}  // namespace joule::eval
