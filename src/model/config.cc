#include "model/config.h"

#include <cmath>

#include "formats/gguf/gguf.h"

namespace joule {
namespace {

Expected<int> get_positive(const gguf::File& f, const std::string& key) {
  JOULE_ASSIGN_OR_RETURN(int64_t v, f.get_int(key));
  if (v <= 0 || v > (1 << 24))
    return FormatError(f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

// Gemma 3 as llama.cpp reads it (src/models/gemma3.cpp): embeddings scaled by sqrt(d_model); five
// local (sliding-window, RoPE base 10000) layers to one global; the 27B scales q.k by
// 1 / sqrt(d_model / n_heads) (query_pre_attn_scalar), the others by 1 / sqrt(head_dim).
Status read_gemma3(const gguf::File& f, ModelConfig& c) {
  const std::string p = c.arch_name + ".";
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
  JOULE_ASSIGN_OR_RETURN(int64_t window, f.get_int_or(p + "attention.sliding_window", 0));
  if (window < 0) return FormatError(f.path() + ": attention.sliding_window must not be negative");
  c.sliding_window = static_cast<int>(window);
  c.swa_period = 6;
  if (f.find(p + "attention.sliding_window_pattern"))
    return Unsupported(f.path() + ": an explicit attention.sliding_window_pattern is not supported yet");
  JOULE_ASSIGN_OR_RETURN(double local_theta, f.get_float_or(p + "rope.freq_base_swa", 10000.0));
  c.rope_theta_local = static_cast<float>(local_theta);
  JOULE_ASSIGN_OR_RETURN(double softcap, f.get_float_or(p + "final_logit_softcapping", 0.0));
  if (softcap != 0) return Unsupported(f.path() + ": final_logit_softcapping is not supported yet");
  if (c.n_layers == 62) c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.d_model / c.n_heads));
  return Status::Ok();
}

}  // namespace

std::string_view arch_name(Arch a) {
  switch (a) {
    case Arch::kLlama: return "llama";
    case Arch::kQwen2: return "qwen2";
    case Arch::kGemma3: return "gemma3";
    case Arch::kBloom: return "bloom";
  }
  return "?";
}

float ModelConfig::alibi_slope(int h) const {
  const int n_head_log2 = 1 << static_cast<int>(std::floor(std::log2(static_cast<float>(n_heads))));
  const float m0 = std::pow(2.0f, -alibi_max_bias / static_cast<float>(n_head_log2));
  const float m1 = std::pow(2.0f, -(alibi_max_bias / 2.0f) / static_cast<float>(n_head_log2));
  return h < n_head_log2 ? std::pow(m0, static_cast<float>(h + 1))
                         : std::pow(m1, static_cast<float>(2 * (h - n_head_log2) + 1));
}

Expected<ModelConfig> read_model_config(const gguf::File& f) {
  ModelConfig c;
  JOULE_ASSIGN_OR_RETURN(c.arch_name, f.get_string("general.architecture"));
  if (c.arch_name == "llama") {
    c.arch = Arch::kLlama;
    c.rope_mode = RopeMode::kNorm;
  } else if (c.arch_name == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_mode = RopeMode::kNeox;
    c.qkv_bias = true;
  } else if (c.arch_name == "gemma3") {
    c.arch = Arch::kGemma3;
    c.rope_mode = RopeMode::kNeox;
    c.ffn_act = FfnActivation::kGeluTanh;
    c.qk_norm = true;
    c.post_norms = true;
  } else if (c.arch_name == "bloom") {
    // llama.cpp's bloom graph (src/models/bloom.cpp): LayerNorms with biases, one of them on the
    // embeddings, fused QKV with bias, ALiBi with max bias 8 instead of RoPE, a GELU feed-forward
    // with biases and no gate, the output matrix tied to the embeddings unless stored.
    c.arch = Arch::kBloom;
    c.norm = NormKind::kLayer;
    c.embed_norm = true;
    c.fused_qkv = true;
    c.qkv_bias = true;
    c.proj_bias = true;
    c.ffn_gated = false;
    c.ffn_act = FfnActivation::kGeluTanh;
    c.alibi_max_bias = 8.0f;
  } else {
    return Unsupported(f.path() + ": unsupported architecture '" + c.arch_name +
                       "' (supported: llama, qwen2, gemma3, bloom)");
  }
  auto name = f.get_string("general.name");
  c.name = name.ok() ? *name : c.arch_name;

  const std::string p = c.arch_name + ".";
  JOULE_ASSIGN_OR_RETURN(c.n_layers, get_positive(f, p + "block_count"));
  JOULE_ASSIGN_OR_RETURN(c.d_model, get_positive(f, p + "embedding_length"));
  JOULE_ASSIGN_OR_RETURN(c.d_ff, get_positive(f, p + "feed_forward_length"));
  JOULE_ASSIGN_OR_RETURN(c.n_heads, get_positive(f, p + "attention.head_count"));
  JOULE_ASSIGN_OR_RETURN(int64_t n_kv, f.get_int_or(p + "attention.head_count_kv", c.n_heads));
  c.n_kv_heads = static_cast<int>(n_kv);
  if (c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
    return FormatError(f.path() + ": head_count " + std::to_string(c.n_heads) +
                       " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads));
  JOULE_ASSIGN_OR_RETURN(int64_t head_dim,
                         f.get_int_or(p + "attention.key_length", c.d_model / c.n_heads));
  c.head_dim = static_cast<int>(head_dim);
  if (c.head_dim <= 0 || c.head_dim % 2 != 0)
    return FormatError(f.path() + ": head dimension " + std::to_string(c.head_dim) +
                       " must be positive and even");
  JOULE_ASSIGN_OR_RETURN(int64_t ctx, f.get_int_or(p + "context_length", 2048));
  c.ctx_train = static_cast<int>(ctx);
  JOULE_ASSIGN_OR_RETURN(double eps, f.get_float_or(p + (c.norm == NormKind::kLayer ? "attention.layer_norm_epsilon"
                                                                                     : "attention.layer_norm_rms_epsilon"),
                                                    1e-5));
  c.rms_eps = static_cast<float>(eps);
  JOULE_ASSIGN_OR_RETURN(double theta, f.get_float_or(p + "rope.freq_base", 10000.0));
  c.rope_theta = static_cast<float>(theta);
  JOULE_ASSIGN_OR_RETURN(int64_t rope_dim,
                         f.get_int_or(p + "rope.dimension_count", c.alibi_max_bias > 0 ? 0 : c.head_dim));
  c.rope_dim = static_cast<int>(rope_dim);
  if ((c.alibi_max_bias > 0) != (c.rope_dim == 0) || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
    return FormatError(f.path() + ": rope.dimension_count " + std::to_string(c.rope_dim) +
                       " does not fit head dimension " + std::to_string(c.head_dim));

  if (f.find(p + "rope.scaling.type")) {
    JOULE_ASSIGN_OR_RETURN(std::string type, f.get_string(p + "rope.scaling.type"));
    if (type == "linear") {
      JOULE_ASSIGN_OR_RETURN(double factor, f.get_float(p + "rope.scaling.factor"));
      if (factor <= 0) return FormatError(f.path() + ": rope.scaling.factor must be positive");
      c.rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none") {
      return Unsupported(f.path() + ": rope scaling '" + type + "' is not supported yet");
    }
  }

  c.attn_scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  if (c.arch == Arch::kGemma3) {
    JOULE_RETURN_IF_ERROR(read_gemma3(f, c));
  } else if (c.arch != Arch::kBloom) {
    // Mistral v0.1 (and models tuned from it) is a llama file whose every layer attends to a
    // window of the last positions, as its config.json's sliding_window says; llama.cpp's llama
    // graph ignores the key, so the two differ beyond the window.
    JOULE_ASSIGN_OR_RETURN(int64_t window, f.get_int_or(p + "attention.sliding_window", 0));
    if (window < 0) return FormatError(f.path() + ": attention.sliding_window must not be negative");
    c.sliding_window = static_cast<int>(window);
    c.rope_theta_local = c.rope_theta;
  }

  // The vocabulary size is the token list's length (llama.vocab_size is optional).
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || !std::holds_alternative<gguf::Value::Array>(tokens->v))
    return FormatError(f.path() + ": missing tokenizer.ggml.tokens");
  c.n_vocab = static_cast<int>(std::get<gguf::Value::Array>(tokens->v).items.size());
  return c;
}

}  // namespace joule
