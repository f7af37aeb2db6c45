// Writes small random-weight GGUF models for tests (any arch/type joule supports).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "formats/gguf/gguf.h"
#include "model/random_model.h"
#include "quant/reference.h"
#include "quant/types.h"

namespace joule::testing {

struct TinyModelSpec {
  std::string arch = "llama";  // llama, qwen2, gemma3 or bloom
  int sliding_window = 0;       // gemma3: its attention.sliding_window (local layers il % 6 != 5)
  int n_layers = 2;
  int d_model = 64;
  int d_ff = 128;
  int n_heads = 4;
  int n_kv_heads = 2;
  int n_vocab = 300;  // >= 256: the first 256 tokens are GPT-2's byte alphabet
  DType matrix_type = DType::kF32;
  bool tied_output = true;
  uint32_t seed = 42;
  float logit_scale = 1.0f;  // the output norm's weights: larger makes the logits peakier
  std::vector<std::string> skip_tensors;  // to build broken files
};

inline void add_random(gguf::Writer& w, const TinyModelSpec& s, std::mt19937& rng,
                       const std::string& name, std::vector<int64_t> dims, DType type,
                       float scale, float offset = 0.0f) {
  for (const auto& skip : s.skip_tensors)
    if (skip == name) return;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = offset + scale * dist(rng);
  std::vector<uint8_t> data(row_bytes(type, dims[0]) * (n / dims[0]));
  for (int64_t r = 0; r < n / dims[0]; ++r)
    quantize_row_ref(type, x.data() + r * dims[0], data.data() + r * row_bytes(type, dims[0]),
                     dims[0]);
  Status st = w.add_tensor(name, type, dims, data.data(), data.size());
  if (!st.ok()) throw std::runtime_error(st.message());
}

// A model whose logits vary with the input (weights ~ N(0, 1/sqrt(d))).
inline void write_tiny_model(const std::string& path, const TinyModelSpec& s) {
  gguf::Writer w;
  std::mt19937 rng(s.seed);
  const std::string a = s.arch;
  w.set_string("general.architecture", a);
  w.set_string("general.name", "tiny-" + a);
  w.set_u32(a + ".block_count", s.n_layers);
  w.set_u32(a + ".embedding_length", s.d_model);
  w.set_u32(a + ".feed_forward_length", s.d_ff);
  w.set_u32(a + ".attention.head_count", s.n_heads);
  w.set_u32(a + ".attention.head_count_kv", s.n_kv_heads);
  w.set_u32(a + ".context_length", 256);
  const bool bloom = a == "bloom";
  if (bloom) {
    w.set_f32(a + ".attention.layer_norm_epsilon", 1e-5f);
  } else {
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_f32(a + ".rope.freq_base", 10000.0f);
  }
  if (s.sliding_window > 0) w.set_u32(a + ".attention.sliding_window", s.sliding_window);
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "gpt-2");
  w.set_string_array("tokenizer.ggml.tokens", synthetic_byte_vocab(s.n_vocab));
  w.set_string_array("tokenizer.ggml.merges", {"a b"});

  const int64_t d = s.d_model, hd = d / s.n_heads, kv = hd * s.n_kv_heads, f = s.d_ff;
  const float sd = 1.0f / std::sqrt(static_cast<float>(d));
  const DType m = s.matrix_type;
  // bloom's LayerNorms carry a bias; bloom's layers are laid out on their own below.
  auto norm = [&](const std::string& name, float scale = 1.0f) {
    add_random(w, s, rng, name + ".weight", {d}, DType::kF32, 0.1f * scale, scale);
    if (bloom) add_random(w, s, rng, name + ".bias", {d}, DType::kF32, 0.1f);
  };
  add_random(w, s, rng, "token_embd.weight", {d, s.n_vocab}, m, 1.0f);
  if (bloom) norm("token_embd_norm");
  norm("output_norm", s.logit_scale);
  if (!s.tied_output) add_random(w, s, rng, "output.weight", {d, s.n_vocab}, m, sd);
  for (int i = 0; i < s.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    norm(p + "attn_norm");
    if (bloom) {
      add_random(w, s, rng, p + "attn_qkv.weight", {d, d + 2 * kv}, m, sd);
      add_random(w, s, rng, p + "attn_qkv.bias", {d + 2 * kv}, DType::kF32, 0.1f);
      add_random(w, s, rng, p + "attn_output.weight", {d, d}, m, sd);
      add_random(w, s, rng, p + "attn_output.bias", {d}, DType::kF32, 0.1f);
      norm(p + "ffn_norm");
      add_random(w, s, rng, p + "ffn_up.weight", {d, f}, m, sd);
      add_random(w, s, rng, p + "ffn_up.bias", {f}, DType::kF32, 0.1f);
      add_random(w, s, rng, p + "ffn_down.weight", {f, d}, m, 1.0f / std::sqrt(float(f)));
      add_random(w, s, rng, p + "ffn_down.bias", {d}, DType::kF32, 0.1f);
      continue;
    }
    add_random(w, s, rng, p + "attn_q.weight", {d, d}, m, sd);
    add_random(w, s, rng, p + "attn_k.weight", {d, kv}, m, sd);
    add_random(w, s, rng, p + "attn_v.weight", {d, kv}, m, sd);
    if (a == "qwen2") {
      add_random(w, s, rng, p + "attn_q.bias", {d}, DType::kF32, 0.1f);
      add_random(w, s, rng, p + "attn_k.bias", {kv}, DType::kF32, 0.1f);
      add_random(w, s, rng, p + "attn_v.bias", {kv}, DType::kF32, 0.1f);
    }
    add_random(w, s, rng, p + "attn_output.weight", {d, d}, m, sd);
    add_random(w, s, rng, p + "ffn_norm.weight", {d}, DType::kF32, 0.1f, 1.0f);
    add_random(w, s, rng, p + "ffn_gate.weight", {d, f}, m, sd);
    add_random(w, s, rng, p + "ffn_up.weight", {d, f}, m, sd);
    add_random(w, s, rng, p + "ffn_down.weight", {f, d}, m, 1.0f / std::sqrt(float(f)));
    if (a == "gemma3") {
      add_random(w, s, rng, p + "attn_q_norm.weight", {hd}, DType::kF32, 0.1f, 1.0f);
      add_random(w, s, rng, p + "attn_k_norm.weight", {hd}, DType::kF32, 0.1f, 1.0f);
      add_random(w, s, rng, p + "post_attention_norm.weight", {d}, DType::kF32, 0.1f, 1.0f);
      add_random(w, s, rng, p + "post_ffw_norm.weight", {d}, DType::kF32, 0.1f, 1.0f);
    }
  }
  Status st = w.write(path);
  if (!st.ok()) throw std::runtime_error(st.message());
}

}  // namespace joule::testing
