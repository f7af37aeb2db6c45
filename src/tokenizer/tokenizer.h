// Tokenizers built from GGUF metadata: `gpt2` byte-level BPE (with the pre-tokenizer named by
// tokenizer.ggml.pre) and `llama` SentencePiece BPE with byte fallback. Behaviour matches
// llama.cpp's llama-vocab for the same file (tested on a corpus against llama.cpp's token ids).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace joule::gguf {
class File;
}

namespace joule {

using TokenId = int32_t;
struct VocabData;  // tokenizer/vocab.h: the tokenizer.ggml.* metadata

class Tokenizer {
 public:
  // kUnsupported names the model / pre-tokenizer it does not know; kFormat for bad vocab data.
  static Expected<Tokenizer> from_gguf(const gguf::File& f);
  // The same from metadata already read (from_gguf uses it; tests build small vocabs with it).
  static Expected<Tokenizer> from_vocab(VocabData data);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special: prepend BOS / append EOS as the model's add_bos/add_eos flags say.
  // parse_special: text like "<|im_start|>" becomes its control token (else it is plain text).
  std::vector<TokenId> encode(std::string_view text, bool add_special, bool parse_special) const;
  // Concatenated pieces; control tokens (BOS, <|im_end|>, ...) render as nothing unless
  // render_special. Invalid UTF-8 from a partial sequence is passed through as bytes.
  std::string decode(std::span<const TokenId> ids, bool render_special = false) const;
  // The raw bytes of one token (may be part of a UTF-8 sequence), for streaming output.
  std::string token_to_piece(TokenId id, bool render_special = false) const;

  int32_t n_vocab() const;
  TokenId bos() const;  // -1 if none
  TokenId eos() const;  // -1 if none
  bool add_bos() const;
  bool is_control(TokenId id) const;
  // End of generation: eos, eot, and control tokens such as <|im_end|>, <|eot_id|>, <|endoftext|>.
  bool is_eog(TokenId id) const;
  const std::string& model() const;  // "gpt2" or "llama"
  const std::string& pre() const;    // pre-tokenizer name ("smollm", "llama3", "qwen2", ...)
  std::string_view token_text(TokenId id) const;  // the vocab string as stored

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace joule
