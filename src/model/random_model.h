// Models with random weights in the shapes of real ones, so speed, memory and energy can be
// measured for models that are not downloaded. Their outputs are meaningless: accuracy needs
// real weights. Files are marked with the key joule.random_weights = true.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "quant/types.h"

namespace joule {

struct ModelShape {
  std::string_view name;  // "smollm2-135m", "llama-2-7b", ...
  std::string_view arch;  // "llama" or "qwen2"
  int n_layers, d_model, d_ff, n_heads, n_kv_heads, n_vocab, ctx;
  float rope_theta;
  bool tied_output;
  int sliding_window = 0;  // every layer attends to the last this many positions (Mistral v0.1); 0 = all
};

const std::vector<ModelShape>& model_shapes();
const ModelShape* find_model_shape(std::string_view name);
std::string model_shape_list();  // "smollm2-135m, ..." for help and errors

struct RandomModelParams {
  ModelShape shape;
  DType matrix_type = DType::kF32;  // every weight matrix, the embedding table included
  uint64_t seed = 1;
  std::function<void(double fraction)> progress;  // called now and then while writing; may be empty
};

// The number of weights the model will hold.
int64_t random_model_params(const ModelShape& s);

// Writes the model (streamed: memory stays small whatever the size). The tokenizer is a
// synthetic byte-level BPE vocabulary of the shape's size (any text encodes; ids beyond the byte
// alphabet are fillers).
Status write_random_model(const std::string& path, const RandomModelParams& p);

// GPT-2's byte-to-unicode alphabet (256 tokens, so byte-level BPE encodes any text), the merge
// product "ab", then fillers "t257", "t258", ... up to n_vocab (>= 257) tokens.
std::vector<std::string> synthetic_byte_vocab(int n_vocab);

}  // namespace joule
