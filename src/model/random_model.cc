#include "model/random_model.h"

#include <cmath>
#include <algorithm>
#include <functional>
#include <memory>

#include "formats/gguf/gguf.h"
#include "quant/reference.h"

namespace joule {
namespace {

// splitmix64: fast, and every (tensor, row) gets its own stream, so rows are generated in any
// order without storing them.
uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(std::string_view s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

// Uniform values with standard deviation `sd` (uniform on [-sd sqrt 3, sd sqrt 3]): the speed
// and energy of a matrix product do not depend on the distribution.
void random_row(uint64_t seed, float sd, float mean, float* x, int64_t n) {
  const float scale = sd * std::sqrt(3.0f) / static_cast<float>(1 << 23);
  // Two 24-bit integers per draw, centred: [-2^23, 2^23) -> [-sd sqrt 3, sd sqrt 3).
  auto centred = [](uint64_t bits) { return static_cast<float>(static_cast<int32_t>(bits & 0xFFFFFF) - (1 << 23)); };
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t r = splitmix64(seed);
    x[i] = mean + scale * centred(r >> 40);
    if (i + 1 < n) x[i + 1] = mean + scale * centred(r >> 8);
  }
}

}  // namespace

const std::vector<ModelShape>& model_shapes() {
  // From the models' config.json files (layers, hidden, intermediate, heads, kv heads, vocab,
  // context, rope theta, tied embeddings).
  static const std::vector<ModelShape> kShapes = {
      {"smollm2-135m", "llama", 30, 576, 1536, 9, 3, 49152, 8192, 100000.0f, true},
      {"smollm2-360m", "llama", 32, 960, 2560, 15, 5, 49152, 8192, 100000.0f, true},
      {"smollm2-1.7b", "llama", 24, 2048, 8192, 32, 32, 49152, 8192, 130000.0f, true},
      {"llama-2-7b", "llama", 32, 4096, 11008, 32, 32, 32000, 4096, 10000.0f, false},
      {"llama-2-13b", "llama", 40, 5120, 13824, 40, 40, 32000, 4096, 10000.0f, false},
      {"llama-3-8b", "llama", 32, 4096, 14336, 32, 8, 128256, 8192, 500000.0f, false},
      {"mistral-7b", "llama", 32, 4096, 14336, 32, 8, 32000, 32768, 1000000.0f, false},  // v0.2
      {"mistral-7b-v0.1", "llama", 32, 4096, 14336, 32, 8, 32000, 32768, 10000.0f, false, 4096},
      {"neural-chat-7b", "llama", 32, 4096, 14336, 32, 8, 32000, 32768, 10000.0f, false, 4096},
      {"yi-6b", "llama", 32, 4096, 11008, 32, 4, 64000, 4096, 5000000.0f, false},
      {"qwen2.5-0.5b", "qwen2", 24, 896, 4864, 14, 2, 151936, 32768, 1000000.0f, true},
      {"qwen2.5-1.5b", "qwen2", 28, 1536, 8960, 12, 2, 151936, 32768, 1000000.0f, true},
      {"qwen2.5-7b", "qwen2", 28, 3584, 18944, 28, 4, 152064, 32768, 1000000.0f, false},
      {"deepseek-r1-distill-qwen-7b", "qwen2", 28, 3584, 18944, 28, 4, 152064, 32768, 10000.0f, false},
      {"bloom-560m", "bloom", 24, 1024, 4096, 16, 16, 250880, 2048, 0.0f, true},
      {"bloomz-7b1", "bloom", 30, 4096, 16384, 32, 32, 250880, 2048, 0.0f, true},
  };
  return kShapes;
}

const ModelShape* find_model_shape(std::string_view name) {
  if (name == "llama-7b") name = "llama-2-7b";
  for (const ModelShape& s : model_shapes())
    if (s.name == name) return &s;
  return nullptr;
}

std::string model_shape_list() {
  std::string s;
  for (const ModelShape& m : model_shapes()) s += (s.empty() ? "" : ", ") + std::string(m.name);
  return s + " (llama-7b = llama-2-7b)";
}

int64_t random_model_params(const ModelShape& s) {
  const int64_t d = s.d_model, hd = d / s.n_heads, kv = hd * s.n_kv_heads, f = s.d_ff;
  if (s.arch == "bloom") {  // fused QKV, two feed-forward matrices, biases, LayerNorms
    const int64_t layer = d * (d + 2 * kv) + d * d + 2 * d * f + (d + 2 * kv) + d + f + d + 4 * d;
    return s.n_layers * layer + int64_t(s.n_vocab) * d + 4 * d;
  }
  int64_t layer = d * d * 2 + 2 * d * kv + 3 * d * f + 2 * d;
  if (s.arch == "qwen2") layer += d + 2 * kv;
  return s.n_layers * layer + int64_t(s.n_vocab) * d * (s.tied_output ? 1 : 2) + d;
}

std::vector<std::string> synthetic_byte_vocab(int n_vocab) {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  std::vector<std::string> tokens;
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    tokens.push_back(utf8(printable ? b : next++));
  }
  tokens.push_back("ab");  // the product of the one merge, "a b"
  for (int i = 257; i < n_vocab; ++i) tokens.push_back(std::string("t").append(std::to_string(i)));
  return tokens;
}

Status write_random_model(const std::string& path, const RandomModelParams& p) {
  const ModelShape& s = p.shape;
  if (s.d_model % s.n_heads != 0 || s.n_heads % s.n_kv_heads != 0)
    return InvalidArgument("shape " + std::string(s.name) + ": heads do not divide the model width");
  gguf::Writer w;
  const std::string a(s.arch);
  w.set_string("general.architecture", a);
  w.set_string("general.name", "random-" + std::string(s.name));
  w.set_bool("joule.random_weights", true);
  w.set_u32(a + ".block_count", s.n_layers);
  w.set_u32(a + ".embedding_length", s.d_model);
  w.set_u32(a + ".feed_forward_length", s.d_ff);
  w.set_u32(a + ".attention.head_count", s.n_heads);
  w.set_u32(a + ".attention.head_count_kv", s.n_kv_heads);
  w.set_u32(a + ".context_length", s.ctx);
  const bool bloom = a == "bloom";
  if (bloom) {
    w.set_f32(a + ".attention.layer_norm_epsilon", 1e-5f);
  } else {
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", a == "qwen2" ? 1e-6f : 1e-5f);
    w.set_f32(a + ".rope.freq_base", s.rope_theta);
  }
  if (s.sliding_window > 0) w.set_u32(a + ".attention.sliding_window", s.sliding_window);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set_string_array("tokenizer.ggml.tokens", synthetic_byte_vocab(s.n_vocab));
  w.set_string_array("tokenizer.ggml.merges", {"a b"});

  const int64_t d = s.d_model, hd = d / s.n_heads, kv = hd * s.n_kv_heads, f = s.d_ff;
  Status st;
  const auto total = static_cast<double>(random_model_params(s));
  auto values_done = std::make_shared<int64_t>(0);  // shared by the fills, which run in turn
  auto percent_reported = std::make_shared<int>(-1);
  // A tensor of rows x cols values with standard deviation sd (and mean `mean` for norms).
  auto add = [&](const std::string& name, int64_t rows, int64_t cols, DType type, float sd, float mean) {
    if (!st.ok()) return;
    const uint64_t seed = p.seed ^ hash_name(name);
    std::vector<int64_t> dims = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    if (cols % traits(type).block_size != 0) {
      st = InvalidArgument(name + ": " + std::to_string(cols) + " columns are not a multiple of the " +
                           std::string(dtype_name(type)) + " block size");
      return;
    }
    const auto progress = p.progress;
    st = w.add_tensor_rows(name, type, std::move(dims), [=](int64_t r, uint8_t* dst) {
      thread_local std::vector<float> x;
      x.resize(static_cast<size_t>(cols));
      random_row(seed + static_cast<uint64_t>(r) * 0x632BE59BD9B4E019ull, sd, mean, x.data(), cols);
      quantize_row_ref(type, x.data(), dst, cols);
      *values_done += cols;
      const int percent = static_cast<int>(100 * std::min(1.0, *values_done / total));
      if (progress && percent != *percent_reported) {
        *percent_reported = percent;
        progress(percent / 100.0);
      }
    });
  };
  const DType m = p.matrix_type;
  const float sd_d = 1.0f / std::sqrt(static_cast<float>(d)), sd_f = 1.0f / std::sqrt(static_cast<float>(f));
  // A norm's weight (around 1) and, for bloom's LayerNorms, its bias; biases of n values.
  auto norm = [&](const std::string& name) {
    add(name + ".weight", 1, d, DType::kF32, 0.1f, 1.0f);
    if (bloom) add(name + ".bias", 1, d, DType::kF32, 0.1f, 0.0f);
  };
  auto bias = [&](const std::string& name, int64_t n) { add(name, 1, n, DType::kF32, 0.1f, 0.0f); };
  add("token_embd.weight", s.n_vocab, d, m, 1.0f, 0.0f);
  if (bloom) norm("token_embd_norm");
  norm("output_norm");
  if (!s.tied_output) add("output.weight", s.n_vocab, d, m, sd_d, 0.0f);
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    norm(b + "attn_norm");
    if (bloom) {  // llama.cpp's bloom layout: fused QKV, biases everywhere, no gate
      add(b + "attn_qkv.weight", d + 2 * kv, d, m, sd_d, 0.0f);
      bias(b + "attn_qkv.bias", d + 2 * kv);
      add(b + "attn_output.weight", d, d, m, sd_d, 0.0f);
      bias(b + "attn_output.bias", d);
      norm(b + "ffn_norm");
      add(b + "ffn_up.weight", f, d, m, sd_d, 0.0f);
      bias(b + "ffn_up.bias", f);
      add(b + "ffn_down.weight", d, f, m, sd_f, 0.0f);
      bias(b + "ffn_down.bias", d);
      continue;
    }
    add(b + "attn_q.weight", d, d, m, sd_d, 0.0f);
    add(b + "attn_k.weight", kv, d, m, sd_d, 0.0f);
    add(b + "attn_v.weight", kv, d, m, sd_d, 0.0f);
    if (a == "qwen2") {
      bias(b + "attn_q.bias", d);
      bias(b + "attn_k.bias", kv);
      bias(b + "attn_v.bias", kv);
    }
    add(b + "attn_output.weight", d, d, m, sd_d, 0.0f);
    norm(b + "ffn_norm");
    add(b + "ffn_gate.weight", f, d, m, sd_d, 0.0f);
    add(b + "ffn_up.weight", f, d, m, sd_d, 0.0f);
    add(b + "ffn_down.weight", d, f, m, sd_f, 0.0f);
  }
  JOULE_RETURN_IF_ERROR(st);
  return w.write(path);
}

}  // namespace joule
