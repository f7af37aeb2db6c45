// Model hyper-parameters, read from GGUF metadata ("<arch>.<key>").
#pragma once

#include <string>

#include "core/status.h"

namespace joule {
namespace gguf {
class File;
}

enum class Arch { kLlama, kQwen2, kGemma3, kBloom };

// The feed-forward gate's activation: SwiGLU (llama, qwen2) or GeGLU with the tanh GELU (gemma).
enum class FfnActivation { kSilu, kGeluTanh };

// RMSNorm (x / rms(x) * w: llama, qwen2, gemma3) or LayerNorm ((x - mean) / std * w + b: bloom).
enum class NormKind { kRms, kLayer };

// How RoPE pairs dimensions: kNorm rotates (x[2i], x[2i+1]) (llama GGUF files, whose Q/K rows
// the converter permuted), kNeox rotates (x[i], x[i + dim/2]) (qwen2).
enum class RopeMode { kNorm, kNeox };

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;      // as in general.architecture
  std::string name;           // general.name, for display
  int n_layers = 0;
  int d_model = 0;            // embedding length
  int d_ff = 0;               // feed-forward hidden size
  int n_heads = 0;
  int n_kv_heads = 0;         // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;           // d_model / n_heads unless key_length says otherwise
  int n_vocab = 0;
  int ctx_train = 0;          // context length the model was trained for
  NormKind norm = NormKind::kRms;
  float rms_eps = 1e-5f;      // the norms' epsilon (LayerNorm's too)
  float rope_theta = 10000.0f;
  int rope_dim = 0;           // dimensions rotated per head (<= head_dim); 0: no RoPE (ALiBi)
  float rope_freq_scale = 1.0f;  // linear scaling: position * freq_scale
  RopeMode rope_mode = RopeMode::kNorm;
  bool qkv_bias = false;      // qwen2
  float attn_scale = 0;       // multiplies q.k: 1 / sqrt(head_dim) unless the architecture says otherwise
  FfnActivation ffn_act = FfnActivation::kSilu;
  // gemma3
  float embed_scale = 1.0f;   // token embeddings are multiplied by this (sqrt(d_model))
  bool qk_norm = false;       // RMSNorm over each query and key head before RoPE
  bool post_norms = false;    // RMSNorm of the attention and feed-forward outputs before their residual adds
  // bloom
  bool embed_norm = false;    // a LayerNorm of the token embeddings before the first layer
  bool fused_qkv = false;     // one attn_qkv matrix (and bias): rows of q, then k, then v
  bool proj_bias = false;     // biases on the attention output and both feed-forward matrices
  bool ffn_gated = true;      // act(Wgate·x) * Wup·x; false: act(Wup·x + b_up) (no gate matrix)
  float alibi_max_bias = 0;   // ALiBi position biases with this maximum (0: none)
  // Sliding-window attention (gemma3; llama files that set it, as Mistral v0.1 does)
  int sliding_window = 0;     // local layers attend to the last this many positions (0: no local layers)
  int swa_period = 0;         // layer il is global when il % swa_period == swa_period - 1; 0: all local
  float rope_theta_local = 10000.0f;  // RoPE base of local layers

  bool is_local(int layer) const {
    return sliding_window > 0 && (swa_period == 0 || layer % swa_period != swa_period - 1);
  }

  // ALiBi's slope of head h, as ggml's soft_max computes it (geometric in the head index, with
  // the odd powers of the half step for heads beyond the largest power of two).
  float alibi_slope(int h) const;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

std::string_view arch_name(Arch a);

// Reads and checks the hyper-parameters; kUnsupported for an unknown architecture or rope
// scaling, kFormat for missing or inconsistent keys.
Expected<ModelConfig> read_model_config(const gguf::File& f);

}  // namespace joule
