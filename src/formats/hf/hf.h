// Hugging Face checkpoint folders: config.json, model.safetensors (or shards listed in
// model.safetensors.index.json), tokenizer.json and tokenizer_config.json.
//
// joule runs such a folder by converting it once into a GGUF in llama.cpp's layout for its
// architecture (what llama.cpp's convert_hf_to_gguf.py writes for it): the same file then serves
// joule's engine, its tokenizer and llama.cpp. Tensors are streamed row by row from the mapped
// shards, in their own type (F32 / F16 / BF16) or the one asked for: no f32 copy of the model.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/gguf/gguf.h"
#include "formats/safetensors/safetensors.h"
#include "quant/types.h"

namespace joule::hf {

// Whether `path` is a directory holding a config.json.
bool is_folder(const std::string& path);

// The folder's weights: every shard mapped and validated, tensors found by name.
class Weights {
 public:
  // model.safetensors.index.json's shards, or model.safetensors alone. Errors name the file:
  // a missing index entry's shard, a tensor the index lists but its shard lacks, a malformed file.
  static Expected<Weights> open(const std::string& dir);
  struct Ref {
    const safetensors::File* file;
    const safetensors::TensorInfo* info;
  };
  std::optional<Ref> find(const std::string& name) const;

 private:
  std::vector<std::unique_ptr<safetensors::File>> shards_;
  std::map<std::string, Ref> by_name_;
};

// The tokenizer.* metadata of a GGUF from tokenizer.json, tokenizer_config.json and config.json:
// byte-level BPE (GPT-2 style: Qwen, Llama 3, SmolLM2) with the pre-tokenizers joule knows, and
// SentencePiece-style BPE with byte fallback (Llama 2, Mistral, Gemma); others (Unigram, WordPiece,
// an unknown pre-tokenizer) are kUnsupported, said plainly.
Status tokenizer_metadata(const std::string& dir, int64_t n_vocab, gguf::Writer& w);

struct ConvertOptions {
  std::optional<DType> type;  // weight matrices in this type (norms and biases stay f32); default: as stored
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> progress;  // tensor bytes read so far
};

// Writes DIR as a GGUF at `out` (through out.tmp, renamed at the end).
Status convert(const std::string& dir, const std::string& out, const ConvertOptions& o = {});

// The GGUF a folder converts to, made on first use under JOULE_CACHE_DIR (default
// ~/.cache/joule)/hf and reused while the folder's files are unchanged (their names, sizes and
// modification times key the cache). `note` says when a conversion ran.
Expected<std::string> cached_gguf(const std::string& dir, std::string* note = nullptr);

}  // namespace joule::hf
