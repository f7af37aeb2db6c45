// A loaded model: configuration plus views of the weights inside the mapped GGUF file.
// Immutable after load, so any number of sessions can share one Model.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "core/status.h"
#include "formats/gguf/gguf.h"
#include "model/config.h"
#include "quant/policy.h"

namespace joule {

// Shapes: d = d_model, q = n_heads * head_dim, kv = n_kv_heads * head_dim, f = d_ff.
// Vectors of a feature the configuration does not have are empty, matrices unbound (rows 0).
struct LayerWeights {
  std::vector<float> attn_norm, attn_norm_b;  // [d]; the bias with LayerNorm only
  Matrix wq;                     // [q rows x d cols]
  Matrix wk;                     // [kv x d]
  Matrix wv;                     // [kv x d]
  std::vector<float> bq, bk, bv; // [q], [kv], [kv]; qwen2
  Matrix wqkv;                   // [q + 2 kv x d] instead of wq, wk, wv where fused_qkv (bloom)
  std::vector<float> bqkv;       // [q + 2 kv]; fused_qkv
  std::vector<float> q_norm, k_norm;  // [head_dim] each, shared by the heads; qk_norm only
  Matrix wo;                     // [d x q]
  std::vector<float> bo;         // [d]; proj_bias
  std::vector<float> post_attn_norm;  // [d]; post_norms only
  std::vector<float> ffn_norm, ffn_norm_b;  // [d]
  Matrix w_gate;                 // [f x d]; ffn_gated
  Matrix w_up;                   // [f x d]
  std::vector<float> b_up;       // [f]; proj_bias
  Matrix w_down;                 // [d x f]
  std::vector<float> b_down;     // [d]; proj_bias
  std::vector<float> post_ffn_norm;   // [d]; post_norms only
};

struct ModelWeights {
  Matrix token_embd;               // [n_vocab x d], rows looked up per token
  std::vector<float> embd_norm, embd_norm_b;  // [d]; embed_norm only
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm, output_norm_b;  // [d]; the bias with LayerNorm only
  Matrix output;                   // [n_vocab x d]; the token_embd view when tied
  bool tied_output = false;
  std::vector<float> rope_freq_factors;  // [rope_dim / 2] or empty (llama 3.1 rope_freqs)

  // Every weight matrix with its GGUF tensor name, in file order (a tied output matrix is not
  // listed apart from token_embd.weight).
  std::vector<std::pair<std::string, const Matrix*>> matrices() const;
};

struct LoadOptions {
  // Weight precisions: matrices the policy gives another type are converted at load time
  // (dequantized and requantized row by row into memory the Model owns); nullptr = as stored.
  const Policy* policy = nullptr;
};

class Model {
 public:
  // Maps the file, reads the configuration and binds every weight, checking names, shapes and
  // that a CPU kernel exists for each matrix type, then places the weights for the kernels
  // (place_weights). Errors name the file and the tensor.
  static Expected<std::unique_ptr<Model>> load(const std::string& path, const LoadOptions& opts = {});

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const gguf::File& file() const { return *file_; }

  // Bytes of weights read to decode one token: every matrix once (the output matrix included,
  // the embedding table excluded unless it is tied and so doubles as the output matrix).
  size_t bytes_per_token() const;
  int64_t n_params() const;
  // Matrices a load-time policy could not convert (their length is not a multiple of the
  // target's block size), one line each; they keep their stored type.
  const std::vector<std::string>& load_notes() const { return load_notes_; }
  // Bytes of every weight matrix as bound (after any conversion), the embedding table included.
  size_t weight_bytes() const;

  // A model with a's matrices, except those whose names `take_b` selects, which are b's: two
  // loads of one file at different precisions mixed per tensor without converting anything
  // again (sensitivity analysis). Shares a's and b's memory, which stays alive with it.
  static Expected<std::unique_ptr<Model>> mix(const Model& a, const Model& b,
                                              const std::function<bool(const std::string&)>& take_b);

 private:
  Model(std::shared_ptr<const gguf::File> file, ModelConfig config)
      : file_(std::move(file)), config_(std::move(config)) {}
  // Binds every matrix to its data in the file; those the policy gives another type are listed
  // in convert_to (by GGUF name) for place_weights.
  Status bind_weights(const Policy* policy, std::map<std::string, DType>& convert_to);
  // Moves the matrices out of the file mapping into memory the kernels stream fastest, one arena
  // on huge pages (core/memory.h): converted (convert_to) or copied rows, and the CPU kernels'
  // packed layout where they have one (cpu::pack_matrix; then the rows stay in the file unless
  // converted). The file's pages are released, so the weights are resident once.
  // JOULE_PACK=0 leaves unconverted matrices in the mapping and packs nothing (A/B runs).
  void place_weights(const std::map<std::string, DType>& convert_to);
  std::vector<std::pair<std::string, Matrix*>> mutable_matrices();

  std::shared_ptr<const gguf::File> file_;
  ModelConfig config_;
  ModelWeights weights_;
  // What the weight views point into besides file_: matrices converted, packed or copied at
  // load (and, for a mix, its sources' files and memory).
  std::vector<std::shared_ptr<const void>> owned_;
  std::vector<std::string> load_notes_;
};

}  // namespace joule
