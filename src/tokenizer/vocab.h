// Vocabulary data as read from GGUF (VocabData) and the derived lookup structures every tokenizer
// model uses (Vocab): token attributes, text -> id, special-token list and end-of-generation set,
// all derived the way llama.cpp's llama_vocab::impl::load does for the same metadata.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/text_index.h"
#include "tokenizer/tokenizer.h"

namespace joule {

// The tokenizer.ggml.* metadata, before any defaults are applied. An absent key is an empty vector
// or nullopt; the model type's default (llama.cpp's) then applies.
struct VocabData {
  std::string model;  // tokenizer.ggml.model: "gpt2" or "llama"
  std::string pre;    // tokenizer.ggml.pre; empty when absent
  std::vector<std::string> tokens;
  std::vector<float> scores;         // empty: all 0
  std::vector<int32_t> token_types;  // llama.cpp llama_token_type values; empty: all normal
  std::vector<std::string> merges;   // "left right", gpt2 only
  std::optional<TokenId> bos, eos, eot, eom, unk;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
  std::string normalizer;  // tokenizer.joule.normalizer: "" or "nfc" (Hugging Face folders, Qwen2)
};

namespace tok {

// llama.cpp's llama_token_attr bits (the subset that changes tokenization or rendering).
enum Attr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
};

enum class VocabKind { kBpe, kSpm };

struct Vocab {
  VocabKind kind = VocabKind::kBpe;
  std::string model;
  std::string pre;
  std::vector<std::string> text;  // by id
  std::vector<float> score;
  std::vector<uint32_t> attr;
  TextIndex index;  // text -> id; for duplicate texts the last id wins

  TokenId bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = false;
  bool nfc = false;  // text is NFC-normalized before anything else

  // Tokens matched in raw text before tokenizing (control, user-defined, unknown), longest first.
  std::vector<TokenId> special_tokens;
  std::vector<bool> eog;  // by id
  // SPM byte fallback: the <0xXX> token for each byte (-1 if the vocab lacks it).
  std::array<TokenId, 256> byte_token{};

  int32_t size() const { return static_cast<int32_t>(text.size()); }
  bool valid(TokenId id) const { return id >= 0 && id < size(); }
  TokenId find(std::string_view s) const { return index.find(s, text); }
};

// Validates the data and applies llama.cpp's defaults. `pre_add_bos` is the add_bos default the
// pre-tokenizer implies (llama3-style BPE vocabs add BOS unless the file says otherwise).
Expected<Vocab> build_vocab(VocabData data, std::optional<bool> pre_add_bos);

}  // namespace tok
}  // namespace joule
