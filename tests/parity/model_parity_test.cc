// joule's engine against llama.cpp on the same GGUF file: top-1 agreement, perplexity and greedy
// generations. The reference comes from tests/parity/peer_logits.py (env JOULE_MODEL_REF); the
// CTest fixture `parity_refs` makes it. Results are also written to JOULE_PARITY_OUT (JSON).
//
// Bounds (env, defaults from the engine-core issue): JOULE_PARITY_MIN_TOP1 (0.98),
// JOULE_PARITY_MAX_PPL_REL (0.01), JOULE_PARITY_MIN_GREEDY (0.5 = most prompts). CTest runs the
// default Q4_1 model and an f16 re-encoding of it; docs/parity.md explains the bounds per file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <nlohmann/json.hpp>

#include "backend/cpu/kernels.h"
#include "core/cpu_features.h"
#include "engine/sampler.h"
#include "model/forward.h"

namespace joule {
namespace {

class ModelParity : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ref = std::getenv("JOULE_MODEL_REF");
    if (ref == nullptr) GTEST_SKIP() << "JOULE_MODEL_REF not set (run through ctest: parity fixture)";
    std::ifstream in(ref);
    ASSERT_TRUE(in) << "cannot read " << ref;
    ref_ = nlohmann::json::parse(in);
    auto m = Model::load(ref_["model"].get<std::string>());
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = std::move(m).value();
  }
  static void record(const std::string& key, nlohmann::json value) {
    const char* out = std::getenv("JOULE_PARITY_OUT");
    if (out == nullptr) return;
    nlohmann::json j;
    if (std::ifstream in(out); in) j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) j = nlohmann::json::object();
    j[key] = std::move(value);
    std::ofstream(out) << j.dump(2);
  }

  nlohmann::json ref_;
  std::unique_ptr<Model> model_;
};

// Tightened bounds hold where joule reproduces ggml's float order: its AVX-512 kernels (the Q4_1
// dot in ggml_vec_dot_q4_1_q8_1's order). On CPUs without AVX-512 joule's AVX2 kernels sum in
// their own order, and it agrees with llama.cpp as llama.cpp agrees with itself when only its
// KV-cache type changes (docs/parity.md); those bounds are set as NAME_OWN_ORDER.
bool exact_order() { return std::string(cpu::best_kernels().isa) == "avx512"; }

double bound(const char* env, double fallback) {
  const std::string own = std::string(env) + "_OWN_ORDER";
  const char* v = exact_order() || std::getenv(own.c_str()) == nullptr ? std::getenv(env) : std::getenv(own.c_str());
  return v ? std::atof(v) : fallback;
}

double log_softmax_at(const float* logits, int n, int idx) {
  const float mx = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
  return double(logits[idx]) - mx - std::log(sum);
}

TEST_F(ModelParity, Top1AgreementAndPerplexity) {
  const int nv = model_->config().n_vocab;
  ThreadPool pool(cpu_features().physical_cores);
  int agree = 0, positions = 0;
  double nll_sum = 0;
  int nll_count = 0;
  for (const auto& chunk : ref_["chunks"]) {
    const auto toks = chunk["tokens"].get<std::vector<TokenId>>();
    const auto top1 = chunk["top1"].get<std::vector<TokenId>>();
    ForwardState st(*model_, static_cast<int>(toks.size()), 512);
    std::vector<float> logits(toks.size() * nv);
    Status s = forward(*model_, st, toks, true, logits.data(), pool, cpu::best_kernels());
    ASSERT_TRUE(s.ok()) << s.message();
    for (size_t i = 0; i < toks.size(); ++i) {
      agree += argmax(&logits[i * nv], nv) == top1[i];
      ++positions;
      if (i + 1 < toks.size()) {
        nll_sum -= log_softmax_at(&logits[i * nv], nv, toks[i + 1]);
        ++nll_count;
      }
    }
  }
  const double agreement = double(agree) / positions;
  const double ppl = std::exp(nll_sum / nll_count);
  const double ppl_ref = ref_["perplexity"].get<double>();
  std::printf("[parity] top-1 agreement %.4f over %d positions; perplexity %.4f vs llama.cpp %.4f "
              "(%+.3f%%); %s kernels, %s bounds\n", agreement, positions, ppl, ppl_ref, 100 * (ppl / ppl_ref - 1),
              cpu::best_kernels().isa, exact_order() ? "ggml-order" : "own-order");
  record("top1", {{"agreement", agreement}, {"positions", positions}, {"kernels", cpu::best_kernels().isa}});
  record("perplexity", {{"joule", ppl}, {"llama_cpp", ppl_ref}, {"scored_tokens", nll_count}});
  EXPECT_GE(positions, 2000);
  EXPECT_GE(agreement, bound("JOULE_PARITY_MIN_TOP1", 0.98));
  EXPECT_LT(std::abs(ppl / ppl_ref - 1), bound("JOULE_PARITY_MAX_PPL_REL", 0.01));
}

TEST_F(ModelParity, GreedyGenerations) {
  const int nv = model_->config().n_vocab;
  ThreadPool pool(cpu_features().physical_cores);
  int equal = 0, total = 0;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& g : ref_["generations"]) {
    const auto prompt = g["prompt_tokens"].get<std::vector<TokenId>>();
    const auto want = g["tokens"].get<std::vector<TokenId>>();
    ForwardState st(*model_, static_cast<int>(prompt.size() + want.size()));
    std::vector<float> logits(nv);
    ASSERT_TRUE(forward(*model_, st, prompt, false, logits.data(), pool, cpu::best_kernels()).ok());
    std::vector<TokenId> got;
    for (size_t i = 0; i < want.size(); ++i) {
      got.push_back(argmax(logits.data(), nv));
      const TokenId one[1] = {got.back()};
      ASSERT_TRUE(forward(*model_, st, one, false, logits.data(), pool, cpu::best_kernels()).ok());
    }
    size_t first_diff = 0;
    while (first_diff < want.size() && got[first_diff] == want[first_diff]) ++first_diff;
    equal += first_diff == want.size();
    ++total;
    rows.push_back({{"prompt", g["prompt"]}, {"equal_prefix", first_diff}, {"length", want.size()}});
  }
  std::printf("[parity] greedy 32-token generations identical for %d of %d prompts\n", equal, total);
  record("greedy", {{"identical", equal}, {"prompts", total}, {"rows", rows}});
  EXPECT_GE(total, 20);
  EXPECT_GE(double(equal) / total, bound("JOULE_PARITY_MIN_GREEDY", 0.5))
      << "share of greedy generations identical to llama.cpp's";
}

}  // namespace
}  // namespace joule
