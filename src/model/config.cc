#include "model/config.h"

#include "formats/gguf/gguf.h"

namespace joule {
namespace {

Expected<int> get_positive(const gguf::File& f, const std::string& key) {
  JOULE_ASSIGN_OR_RETURN(int64_t v, f.get_int(key));
  if (v <= 0 || v > (1 << 24))
    return FormatError(f.path() + ": " + key + " = " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

}  // namespace

std::string_view arch_name(Arch a) { return a == Arch::kLlama ? "llama" : "qwen2"; }

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
  } else {
    return Unsupported(f.path() + ": unsupported architecture '" + c.arch_name +
                       "' (supported: llama, qwen2)");
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
  JOULE_ASSIGN_OR_RETURN(double eps, f.get_float_or(p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rms_eps = static_cast<float>(eps);
  JOULE_ASSIGN_OR_RETURN(double theta, f.get_float_or(p + "rope.freq_base", 10000.0));
  c.rope_theta = static_cast<float>(theta);
  JOULE_ASSIGN_OR_RETURN(int64_t rope_dim, f.get_int_or(p + "rope.dimension_count", c.head_dim));
  c.rope_dim = static_cast<int>(rope_dim);
  if (c.rope_dim <= 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
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

  // The vocabulary size is the token list's length (llama.vocab_size is optional).
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || !std::holds_alternative<gguf::Value::Array>(tokens->v))
    return FormatError(f.path() + ": missing tokenizer.ggml.tokens");
  c.n_vocab = static_cast<int>(std::get<gguf::Value::Array>(tokens->v).items.size());
  return c;
}

}  // namespace joule
