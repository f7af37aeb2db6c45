#include "model/forward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "backend/cpu/matmul.h"
#include "tiny_model.h"

namespace joule {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

std::unique_ptr<Model> load_tiny(const testing::TinyModelSpec& spec, const std::string& name) {
  const std::string path = temp_path(name);
  testing::write_tiny_model(path, spec);
  auto m = Model::load(path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(m).value() : nullptr;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

const std::vector<TokenId> kTokens = {1, 5, 9, 33, 2, 277, 64, 3, 295, 0, 12, 40};

// Logits of every position, evaluated as batches of `batch` tokens.
std::vector<float> run_batched(const Model& m, int batch, int threads, const cpu::KernelSet& ks) {
  const int nv = m.config().n_vocab;
  ForwardState st(m, 64, batch);
  ThreadPool pool(threads);
  std::vector<float> logits(kTokens.size() * nv);
  for (size_t i = 0; i < kTokens.size(); i += batch) {
    const size_t n = std::min<size_t>(batch, kTokens.size() - i);
    Status s = forward(m, st, std::span(kTokens).subspan(i, n), true, logits.data() + i * nv, pool, ks);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return logits;
}

class ForwardArchTest : public ::testing::TestWithParam<std::string> {};

// The KV cache and the causal mask make prefill and one-token-at-a-time decode identical.
TEST_P(ForwardArchTest, PrefillEqualsIncrementalDecode) {
  testing::TinyModelSpec spec;
  spec.arch = GetParam();
  auto m = load_tiny(spec, "tiny_" + spec.arch + ".gguf");
  ASSERT_TRUE(m);
  const auto& ks = cpu::scalar_kernels();
  const auto all = run_batched(*m, 64, 1, ks);
  EXPECT_LT(rel_err(run_batched(*m, 1, 1, ks), all), 1e-5);
  EXPECT_LT(rel_err(run_batched(*m, 5, 2, ks), all), 1e-5);
  EXPECT_LT(rel_err(run_batched(*m, 64, 2, cpu::best_kernels()), all), 1e-4);
}

// Internal batching (max_batch) must not change results either.
TEST_P(ForwardArchTest, InternalBatchSplitIsInvisible) {
  testing::TinyModelSpec spec;
  spec.arch = GetParam();
  auto m = load_tiny(spec, "tiny_split_" + spec.arch + ".gguf");
  ASSERT_TRUE(m);
  const int nv = m->config().n_vocab;
  ThreadPool pool(1);
  std::vector<float> a(kTokens.size() * nv), b(kTokens.size() * nv);
  ForwardState big(*m, 64, 64), small(*m, 64, 4);
  ASSERT_TRUE(forward(*m, big, kTokens, true, a.data(), pool, cpu::scalar_kernels()).ok());
  ASSERT_TRUE(forward(*m, small, kTokens, true, b.data(), pool, cpu::scalar_kernels()).ok());
  EXPECT_LT(rel_err(a, b), 1e-6);
  // Last-token-only logits equal the last row of all logits.
  std::vector<float> last(nv);
  ForwardState st(*m, 64, 4);
  ASSERT_TRUE(forward(*m, st, kTokens, false, last.data(), pool, cpu::scalar_kernels()).ok());
  EXPECT_LT(rel_err(last, std::vector<float>(a.end() - nv, a.end())), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Archs, ForwardArchTest, ::testing::Values("llama", "qwen2", "gemma3", "bloom"));

// Every weight type runs through the model; quantized logits stay close to f32 logits.
TEST(Forward, EveryWeightTypeTracksF32) {
  for (DType t : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                  DType::kQ4_K, DType::kQ6_K, DType::kI8_CH, DType::kI8_DYN}) {
    testing::TinyModelSpec spec;
    spec.d_model = 256;  // k-quants need rows that are multiples of 256
    spec.d_ff = 512;
    auto ref = load_tiny(spec, "tiny_f32_256.gguf");
    spec.matrix_type = t;
    std::string name = "tiny_";
    name.append(dtype_name(t)).append(".gguf");
    auto q = load_tiny(spec, name);
    ASSERT_TRUE(ref && q);
    const auto want = run_batched(*ref, 64, 2, cpu::best_kernels());
    const double err = rel_err(run_batched(*q, 64, 2, cpu::best_kernels()), want);
    const bool int8 = t == DType::kQ8_0 || t == DType::kI8_CH || t == DType::kI8_DYN;
    const double bound = t == DType::kF16 || t == DType::kBF16 ? 0.02 : int8 ? 0.05 : 0.35;
    EXPECT_LT(err, bound) << dtype_name(t);
    // And the fast kernels agree with the scalar reference on the same model. Kernels match the
    // reference to float rounding (tests/unit/backend); through a model, a rounding difference
    // can flip one step of the next layer's 8-bit activation quantization, so quantized types
    // get a looser end-to-end bound than float types.
    const bool float_type = t == DType::kF16 || t == DType::kBF16 || t == DType::kI8_CH;
    EXPECT_LT(rel_err(run_batched(*q, 64, 1, cpu::best_kernels()),
                      run_batched(*q, 64, 1, cpu::scalar_kernels())), float_type ? 1e-4 : 2e-2)
        << dtype_name(t);
  }
}

// Three sequences over four steps: prompt chunks, a sequence joining late, then decodes.
struct BatchSeq {
  std::vector<std::vector<TokenId>> steps;  // the tokens each step runs (none: not in that step)
  std::vector<int32_t> blocks;              // its block table in the shared cache (interleaved)
};
const std::vector<BatchSeq> kBatchSeqs = {
    {{{1, 5, 9, 33, 2, 277, 64}, {3}, {295}, {12}}, {0, 5, 9}},
    {{{40, 41, 42, 43, 44}, {45, 46, 47, 48, 49, 50, 51}, {7}, {8}}, {1, 2, 6, 10}},
    {{{}, {60, 61, 62}, {63}, {64}}, {3, 7}},
};

// Every step's logits of every sequence, run alone through forward() on a contiguous cache.
std::vector<std::vector<std::vector<float>>> run_alone(const Model& m, ThreadPool& pool, const cpu::KernelSet& ks) {
  std::vector<std::vector<std::vector<float>>> out(kBatchSeqs.size());
  for (size_t i = 0; i < kBatchSeqs.size(); ++i) {
    ForwardState st(m, 64);
    for (const auto& step : kBatchSeqs[i].steps) {
      out[i].emplace_back(m.config().n_vocab);
      if (!step.empty()) {
        EXPECT_TRUE(forward(m, st, step, false, out[i].back().data(), pool, ks).ok());
      }
    }
  }
  return out;
}

// A request's numbers must not depend on what else is in the batch: sequences run together as the
// columns of one step, on a paged cache with interleaved blocks, give bit for bit the logits they
// give alone, for every weight type and every kernel set this CPU has (AMX, for int8-dynamic
// prompts, only where the CPU has it).
void expect_each_sequence_equals_itself_alone(const testing::TinyModelSpec& base, const std::vector<DType>& types) {
  std::vector<const cpu::KernelSet*> kernel_sets = {&cpu::scalar_kernels()};
  if (cpu::avx2_kernels() != nullptr) kernel_sets.push_back(cpu::avx2_kernels());
  if (cpu::avx512_kernels() != nullptr) kernel_sets.push_back(cpu::avx512_kernels());
  for (DType t : types) {
    testing::TinyModelSpec spec = base;
    spec.d_model = 256;  // k-quants need rows that are multiples of 256
    spec.d_ff = 512;
    spec.matrix_type = t;
    auto m = load_tiny(spec, "tiny_batch_" + base.arch + "_" + std::string(dtype_name(t)) + ".gguf");
    ASSERT_TRUE(m);
    const int nv = m->config().n_vocab;
    ThreadPool pool(2);
    for (const cpu::KernelSet* ks : kernel_sets) {
      const auto alone = run_alone(*m, pool, *ks);
      KvCache kv(m->config(), 16, 4);
      BatchScratch scratch(m->config(), 32, 64);
      std::vector<int> pos(kBatchSeqs.size(), 0);
      for (size_t step = 0; step < kBatchSeqs[0].steps.size(); ++step) {
        std::vector<BatchItem> items;
        std::vector<size_t> who;
        for (size_t i = 0; i < kBatchSeqs.size(); ++i) {
          const std::vector<TokenId>& toks = kBatchSeqs[i].steps[step];
          if (toks.empty()) continue;
          items.push_back({.tokens = toks, .pos0 = pos[i], .blocks = kBatchSeqs[i].blocks, .logits = Logits::kLast,
                           .single_token = toks.size() == 1});
          who.push_back(i);
          pos[i] += static_cast<int>(toks.size());
        }
        std::vector<float> logits(items.size() * nv);
        ASSERT_TRUE(forward_batch(*m, kv, items, logits.data(), scratch, pool, *ks).ok());
        for (size_t k = 0; k < items.size(); ++k)
          EXPECT_EQ(std::vector<float>(logits.begin() + k * nv, logits.begin() + (k + 1) * nv), alone[who[k]][step])
              << dtype_name(t) << " on " << ks->isa << ": sequence " << who[k] << ", step " << step;
      }
    }
  }
}

TEST(ForwardBatch, EachSequenceEqualsItselfAlone) {
  expect_each_sequence_equals_itself_alone(
      {}, {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
           DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kI8_CH,
           DType::kI8_DYN, DType::kF16_S24, DType::kQ4_G128, DType::kQ4_G128Z});
}

// gemma3's extra norms, GeGLU and sliding-window layers (window 3 over sequences of up to 12
// positions; the sixth layer is global) keep a sequence's numbers its own.
TEST(ForwardBatch, Gemma3SequenceEqualsItselfAlone) {
  testing::TinyModelSpec spec;
  spec.arch = "gemma3";
  spec.n_layers = 6;
  spec.sliding_window = 3;
  expect_each_sequence_equals_itself_alone(spec, {DType::kF32, DType::kQ4_K});
}

// bloom's LayerNorms, fused QKV, ALiBi and biased GELU feed-forward keep a sequence's numbers its own.
TEST(ForwardBatch, BloomSequenceEqualsItselfAlone) {
  testing::TinyModelSpec spec;
  spec.arch = "bloom";
  spec.n_kv_heads = spec.n_heads;
  expect_each_sequence_equals_itself_alone(spec, {DType::kF32, DType::kQ8_0, DType::kQ4_K});
}

// ALiBi's slopes as ggml's soft_max makes them: 2^(-8 (h + 1) / n) for the largest power of two
// n <= n_heads, then the odd powers of 2^(-4 / n) for the heads beyond it.
TEST(Bloom, AlibiSlopesAreGgmls) {
  ModelConfig c;
  c.alibi_max_bias = 8.0f;
  c.n_heads = 8;
  for (int h = 0; h < 8; ++h) EXPECT_FLOAT_EQ(c.alibi_slope(h), std::pow(2.0f, -float(h + 1))) << h;
  c.n_heads = 12;
  EXPECT_FLOAT_EQ(c.alibi_slope(7), std::pow(2.0f, -8.0f));
  for (int h = 8; h < 12; ++h) EXPECT_FLOAT_EQ(c.alibi_slope(h), std::pow(2.0f, -0.5f * float(2 * (h - 8) + 1))) << h;
}

// With every layer local (window W, L layers), the last position sees at most L * (W - 1) tokens
// back: a token further back changes nothing, one inside the reach changes the logits.
TEST(ForwardBatch, SlidingWindowLimitsWhatAPositionSees) {
  testing::TinyModelSpec spec;
  spec.arch = "gemma3";
  spec.n_layers = 2;  // both local (layers il % 6 != 5)
  spec.sliding_window = 3;
  auto m = load_tiny(spec, "tiny_swa.gguf");
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->config().is_local(0) && m->config().is_local(1));
  ThreadPool pool(1);
  auto last_logits = [&](const std::vector<TokenId>& toks) {
    ForwardState st(*m, 32);
    std::vector<float> logits(size_t(m->config().n_vocab));
    EXPECT_TRUE(forward(*m, st, toks, false, logits.data(), pool, cpu::best_kernels()).ok());
    return logits;
  };
  const std::vector<TokenId> base = {10, 11, 12, 13, 14, 15, 16, 17, 18, 19};  // last position 9: reach 5..9
  std::vector<TokenId> far = base, near = base;
  far[4] = 200;   // 5 positions back: out of reach
  near[5] = 200;  // 4 positions back: in reach
  EXPECT_EQ(last_logits(far), last_logits(base));
  EXPECT_NE(last_logits(near), last_logits(base));
}

TEST(ForwardBatch, RejectsItemsPastTheirBlocksOrTheScratch) {
  auto m = load_tiny({}, "tiny_batch_bad.gguf");
  ASSERT_TRUE(m);
  KvCache kv(m->config(), 4, 4);
  BatchScratch scratch(m->config(), 8, 16);
  ThreadPool pool(1);
  std::vector<float> logits(2 * size_t(m->config().n_vocab));
  const std::vector<TokenId> five = {1, 2, 3, 4, 5}, nine = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<int32_t> one_block = {0}, two_blocks = {0, 1}, three_blocks = {0, 1, 2}, bad_block = {0, 9};
  auto run = [&](const std::vector<BatchItem>& items) {
    return forward_batch(*m, kv, items, logits.data(), scratch, pool, cpu::best_kernels());
  };
  EXPECT_NE(run({{.tokens = five, .blocks = one_block}}).message().find("context full"), std::string::npos);
  EXPECT_NE(run({{.tokens = five, .blocks = bad_block}}).message().find("KV block 9"), std::string::npos);
  EXPECT_NE(run({{.tokens = nine, .blocks = three_blocks}}).message().find("exceed the step's scratch of 8"),
            std::string::npos);
  EXPECT_TRUE(run({{.tokens = five, .blocks = two_blocks}}).ok());
}

// Converting at load time gives the same weights, hence the same logits, as a file written in
// that type from the same values.
TEST(ModelLoad, PrecisionAtLoadEqualsAFileInThatType) {
  for (DType t : {DType::kQ8_0, DType::kI8_DYN, DType::kQ4_0, DType::kQ4_1}) {
    testing::TinyModelSpec spec;
    const std::string path = temp_path("tiny_conv_f32.gguf");
    testing::write_tiny_model(path, spec);
    const Policy policy = Policy::uniform(t);
    auto converted = Model::load(path, {&policy});
    ASSERT_TRUE(converted.ok()) << converted.status().message();
    spec.matrix_type = t;
    auto stored = load_tiny(spec, "tiny_conv_stored.gguf");
    ASSERT_TRUE(stored);
    EXPECT_EQ((*converted)->weights().layers[0].w_up.type, t);
    EXPECT_EQ((*converted)->weight_bytes(), stored->weight_bytes());
    EXPECT_EQ(run_batched(**converted, 64, 1, cpu::best_kernels()),
              run_batched(*stored, 64, 1, cpu::best_kernels()))
        << dtype_name(t);
  }
}

// Weights placed at load (packed Q4_1 on AVX-512, copies elsewhere) compute what the scalar
// oracle computes from the file layout: for Q4_1 both follow ggml's float order, so the logits
// are equal bit for bit. 300 vocabulary rows leave the last 16-row group part empty.
TEST(ModelLoad, PlacedWeightsEqualTheFileLayout) {
  testing::TinyModelSpec spec;
  spec.matrix_type = DType::kQ4_1;
  auto m = load_tiny(spec, "tiny_placed_q4_1.gguf");
  ASSERT_TRUE(m);
  const Matrix& up = m->weights().layers[0].w_up;
  const bool packed = cpu::packed_bytes(up, cpu::best_kernels()) > 0;
  EXPECT_EQ(up.packed != nullptr, packed);
  if (!packed) GTEST_SKIP() << "the kernels here have no packed layout for Q4_1";
  EXPECT_EQ(run_batched(*m, 64, 2, cpu::best_kernels()), run_batched(*m, 64, 2, cpu::scalar_kernels()));
  EXPECT_EQ(run_batched(*m, 1, 1, cpu::best_kernels()), run_batched(*m, 1, 1, cpu::scalar_kernels()));
}

TEST(ModelLoad, Sparse24PrunesTheLinearLayersOnly) {
  const std::string path = temp_path("tiny_sparse.gguf");
  testing::write_tiny_model(path, {});
  const Policy policy = Policy::uniform(DType::kF16_S24);
  auto m = Model::load(path, {&policy});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->weights().token_embd.type, DType::kF16);
  for (const auto& [name, w] : (*m)->weights().matrices())
    if (name != "token_embd.weight") {
      EXPECT_EQ(w->type, DType::kF16_S24) << name;
    }
  // Half the weights of each linear layer, plus 1/8 for the masks.
  EXPECT_EQ((*m)->weights().layers[0].w_up.row_stride, 64 / 16 * sizeof(BlockF16S24));
}

TEST(ModelLoad, PolicyRulesApplyPerTensor) {
  const std::string path = temp_path("tiny_policy.gguf");
  testing::write_tiny_model(path, {});
  auto policy = Policy::parse("blk.1.ffn_down.weight = q8_0\nblk.*.attn_* = keep\n* = int8\n", "p");
  ASSERT_TRUE(policy.ok());
  auto m = Model::load(path, {&*policy});
  ASSERT_TRUE(m.ok()) << m.status().message();
  const ModelWeights& w = (*m)->weights();
  EXPECT_EQ(w.layers[1].w_down.type, DType::kQ8_0);
  EXPECT_EQ(w.layers[0].w_down.type, DType::kI8_CH);
  EXPECT_EQ(w.layers[0].wq.type, DType::kF32);
  EXPECT_EQ(w.layers[1].wo.type, DType::kF32);
  EXPECT_EQ(w.token_embd.type, DType::kI8_CH);
}

TEST(ModelLoad, PolicyErrorsAndKeptTensorsAreReported) {
  const std::string path = temp_path("tiny_policy_bad.gguf");
  testing::write_tiny_model(path, {});
  auto typo = Policy::parse("blk.*.ffn_dwn.weight = q8_0\n", "typo.policy");
  ASSERT_TRUE(typo.ok());
  auto bad = Model::load(path, {&*typo});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("typo.policy:1: rule 'blk.*.ffn_dwn.weight' matches no"),
            std::string::npos);
  // Rows of 64 values cannot hold a 256-value Q4_K super-block: the family's fallback, noted.
  for (auto [wanted, used] : {std::pair{DType::kQ4_K, DType::kQ4_0}, {DType::kQ4_G128Z, DType::kQ4_1}}) {
    const Policy policy = Policy::uniform(wanted);
    auto m = Model::load(path, {&policy});
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ((*m)->weights().layers[0].wq.type, used);
    ASSERT_FALSE((*m)->load_notes().empty());
    EXPECT_NE((*m)->load_notes()[0].find("64 columns are not a multiple of the " + std::string(dtype_name(wanted)) +
                                         " block size"),
              std::string::npos)
        << (*m)->load_notes()[0];
  }
  // Rows of 48 values fit no 32-value block and Q4_0 has no fallback: kept as stored.
  testing::TinyModelSpec narrow;
  narrow.d_model = 48;
  narrow.d_ff = 96;
  const std::string narrow_path = temp_path("tiny_policy_narrow.gguf");
  testing::write_tiny_model(narrow_path, narrow);
  const Policy q4_0 = Policy::uniform(DType::kQ4_0);
  auto m = Model::load(narrow_path, {&q4_0});
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ((*m)->weights().layers[0].wq.type, DType::kF32);
  EXPECT_EQ((*m)->weights().layers[0].w_down.type, DType::kQ4_0);  // 96 columns fit
  ASSERT_FALSE((*m)->load_notes().empty());
  EXPECT_NE((*m)->load_notes()[0].find("block size 32; kept as f32"), std::string::npos) << (*m)->load_notes()[0];
}

TEST(Forward, RejectsOverflowAndBadIds) {
  auto m = load_tiny({}, "tiny_errors.gguf");
  ASSERT_TRUE(m);
  ThreadPool pool(1);
  std::vector<float> logits(m->config().n_vocab);
  ForwardState st(*m, 4);
  const std::vector<TokenId> five = {1, 2, 3, 4, 5};
  Status s = forward(*m, st, five, false, logits.data(), pool, cpu::scalar_kernels());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("context full"), std::string::npos) << s.message();
  const std::vector<TokenId> bad = {300};
  s = forward(*m, st, bad, false, logits.data(), pool, cpu::scalar_kernels());
  EXPECT_NE(s.message().find("outside the vocabulary"), std::string::npos) << s.message();
}

TEST(ModelLoad, MissingTensorIsNamed) {
  testing::TinyModelSpec spec;
  spec.skip_tensors = {"blk.1.ffn_up.weight"};
  const std::string path = temp_path("tiny_missing.gguf");
  testing::write_tiny_model(path, spec);
  auto m = Model::load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kFormat);
  EXPECT_NE(m.status().message().find("missing tensor 'blk.1.ffn_up.weight'"), std::string::npos)
      << m.status().message();
}

TEST(ModelLoad, UnsupportedArchIsNamed) {
  testing::TinyModelSpec spec;
  spec.arch = "gpt9";
  const std::string path = temp_path("tiny_gpt9.gguf");
  testing::write_tiny_model(path, spec);
  auto m = Model::load(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(m.status().message().find("unsupported architecture 'gpt9'"), std::string::npos)
      << m.status().message();
}

TEST(ModelLoad, SeparateOutputMatrix) {
  testing::TinyModelSpec spec;
  spec.tied_output = false;
  auto m = load_tiny(spec, "tiny_untied.gguf");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->weights().tied_output);
  EXPECT_NE(m->weights().output.data, m->weights().token_embd.data);
}

}  // namespace
}  // namespace joule
