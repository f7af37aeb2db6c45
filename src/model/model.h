// A loaded model: configuration plus views of the weights inside the mapped GGUF file.
// Immutable after load, so any number of sessions can share one Model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "core/status.h"
#include "formats/gguf/gguf.h"
#include "model/config.h"

namespace joule {

// Shapes: d = d_model, q = n_heads * head_dim, kv = n_kv_heads * head_dim, f = d_ff.
struct LayerWeights {
  std::vector<float> attn_norm;  // [d]
  Matrix wq;                     // [q rows x d cols]
  Matrix wk;                     // [kv x d]
  Matrix wv;                     // [kv x d]
  std::vector<float> bq, bk, bv; // [q], [kv], [kv]; qwen2 only (empty otherwise)
  Matrix wo;                     // [d x q]
  std::vector<float> ffn_norm;   // [d]
  Matrix w_gate;                 // [f x d]
  Matrix w_up;                   // [f x d]
  Matrix w_down;                 // [d x f]
};

struct ModelWeights {
  Matrix token_embd;               // [n_vocab x d], rows looked up per token
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // [d]
  Matrix output;                   // [n_vocab x d]; the token_embd view when tied
  bool tied_output = false;
  std::vector<float> rope_freq_factors;  // [rope_dim / 2] or empty (llama 3.1 rope_freqs)
};

class Model {
 public:
  // Maps the file, reads the configuration and binds every weight, checking names, shapes and
  // that a CPU kernel exists for each matrix type. Errors name the file and the tensor.
  static Expected<std::unique_ptr<Model>> load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const gguf::File& file() const { return file_; }

  // Bytes of weights read to decode one token: every matrix once (the output matrix included,
  // the embedding table excluded unless it is tied and so doubles as the output matrix).
  size_t bytes_per_token() const;
  int64_t n_params() const;

 private:
  Model(gguf::File file, ModelConfig config) : file_(std::move(file)), config_(std::move(config)) {}
  Status bind_weights();

  gguf::File file_;
  ModelConfig config_;
  ModelWeights weights_;
};

}  // namespace joule
